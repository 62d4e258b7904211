"""ferryd and ferry-confine together, as root (the device's case): every app
and hook runs in its sandbox, as its package's own uid, with the plugs that
are connected; ferry connect / disconnect / connections; devmode; denials in
ferry logs and ferryd's log; the manifest's limits in the app's cgroup;
ferry run confined.

What each interface grants, and nothing more, is tested on ferry-confine
directly in test_confine.py (the full matrix); here a representative set
shows that a connection is what makes the grant appear at the next start,
and a disconnect what takes it away."""
import json
import os
import shutil
import socket
import subprocess
import threading
import time

import pytest

from conftest import binary
from device import Agent, build_package, running_agent

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="confinement by a root ferryd needs root")

# Each start writes what the app could and could not do to
# $FERRY_COMMON/probe.json, then stays up.
PROBE = r"""#!/usr/bin/python3
import json, os, socket, subprocess, time
pkg = os.environ["FERRY"]
root = open(pkg + "/ROOT").read().strip()
port = int(open(pkg + "/PORT").read())
def write(p):
    try:
        with open(p, "w") as f:
            f.write("x")
        os.unlink(p)
        return "ok"
    except OSError as e:
        return e.strerror
def read(p):
    try:
        open(p).read()
        return "ok"
    except OSError as e:
        return e.strerror
def listing(p):
    try:
        return sorted(os.listdir(p))
    except OSError as e:
        return e.strerror
def tcp():
    s = socket.socket()
    s.settimeout(3)
    try:
        s.connect(("127.0.0.1", port))
        return "ok"
    except OSError as e:
        return e.strerror or str(e)
r = {
    "uid": os.getuid(), "gid": os.getgid(), "pid": os.getpid(),
    "data": os.environ["FERRY_DATA"],
    "write_data": write(os.environ["FERRY_DATA"] + "/w"),
    "write_common": write(os.environ["FERRY_COMMON"] + "/w"),
    "write_etc": write("/etc/ferry-probe"),
    "write_pkg": write(pkg + "/w"),
    "write_root": write(root + "/w"),
    "read_other": read(root + "/data/other/common/secret"),
    "see_other": os.path.exists("/ferry/other") or os.path.exists(root + "/data/other"),
    "home": listing("/home"),
    "root_dir": listing("/root"),
    "var_log": listing("/var/log"),
    "host_proc": os.path.isdir("/run/host/proc/1"),
    "tcp": tcp(),
    "userns": subprocess.run(["unshare", "--user", "true"], capture_output=True).returncode,
}
out = os.environ["FERRY_COMMON"] + "/" + os.environ["FERRY_APP"] + ".json"
with open(out + ".tmp", "w") as f:
    json.dump(r, f)
os.rename(out + ".tmp", out)
print("probe done", flush=True)
while True:
    time.sleep(1000)
"""


@pytest.fixture
def agent():
    yield from running_agent()


@pytest.fixture
def work(tmp_path):
    return str(tmp_path)


@pytest.fixture
def listener():
    """A TCP server on the host's 127.0.0.1: reachable from an app only when
    its network plug is connected (otherwise it has its own loopback)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    stop = threading.Event()

    def serve():
        s.settimeout(0.2)
        while not stop.is_set():
            try:
                c, _ = s.accept()
                c.close()
            except OSError:
                pass
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield s.getsockname()[1]
    stop.set()
    t.join()
    s.close()


@pytest.fixture
def home_marker():
    d = "/home/ferry-test-%d" % os.getpid()
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o755)
    yield os.path.basename(d)
    shutil.rmtree(d, ignore_errors=True)


def probe_package(agent, work, port, version="1.0", plugs="[network, home, system-observe, log-observe]",
                  extra_yaml="", name="hello", apps_extra=""):
    return build_package(work, name=name, version=version, server=False, apps=f"""
        probe:
          command: bin/probe
          daemon: simple
          plugs: {plugs}
        {apps_extra}
        """, extra_yaml=extra_yaml, files={
        "bin/probe": (PROBE, 0o755),
        "ROOT": (agent.root + "\n", 0o644),
        "PORT": (f"{port}\n", 0o644)})


def probe(agent, name="hello", restart=True):
    """Restart the probe (unless told not to) and return what it found."""
    path = os.path.join(agent.root, "data", name, "common", "probe.json")
    if restart:
        if os.path.exists(path):
            os.unlink(path)
        agent.ferry("restart", f"{name}.probe")
    deadline = time.time() + 30
    while time.time() < deadline:
        if os.path.exists(path):
            return json.load(open(path))
        time.sleep(0.05)
    raise AssertionError("the probe wrote nothing:\n" + agent.ferry("logs", f"{name}.probe").stdout
                         + agent.logtext())


def as_nobody(agent, *args):
    """ferry run by a user who is neither root nor ferryd's."""
    os.chmod(agent.dir, 0o755)
    env = dict(os.environ, FERRY_SOCKET=agent.socket)
    env.pop("ASAN_OPTIONS", None)
    return subprocess.run([binary("ferry"), *args], capture_output=True, text=True, env=env,
                          preexec_fn=lambda: (os.setgroups([]), os.setgid(65534), os.setuid(65534)))


def connections(agent, name="hello"):
    return {c["plug"]: (c["connected"], c["how"]) for c in agent.json("connections", name)}


def test_daemon_runs_as_its_package_user_in_its_sandbox(agent, work, listener):
    other = build_package(work, name="other", version="1.0")
    agent.ferry("install", other, "--dangerous")
    secret = os.path.join(agent.root, "data/other/common/secret")
    open(secret, "w").write("other's\n")
    os.chmod(secret, 0o644)
    agent.ferry("install", probe_package(agent, work, listener), "--dangerous")
    r = probe(agent, restart=False)

    ids = {}
    for n in ("hello", "other"):
        st = os.stat(os.path.join(agent.root, "data", n, "common"))
        ids[n] = st.st_uid
        assert st.st_uid == st.st_gid
        assert 70000 <= st.st_uid <= 79999, st.st_uid
        assert os.stat(os.path.join(agent.root, "data", n, "x1")).st_uid == st.st_uid
    assert ids["hello"] != ids["other"]
    assert (r["uid"], r["gid"]) == (ids["hello"], ids["hello"])
    assert r["pid"] == 2  # its own PID namespace: ferry-init is 1
    assert r["data"] == "/ferry/hello/data"
    assert r["write_data"] == "ok" and r["write_common"] == "ok"
    assert r["write_etc"] == "Read-only file system"
    assert r["write_pkg"] == "Read-only file system"
    assert r["write_root"] != "ok"
    assert r["read_other"] == "No such file or directory"
    assert r["see_other"] is False
    assert r["root_dir"] == "No such file or directory"
    # a file the app leaves belongs to its user
    open_path = os.path.join(agent.root, "data/hello/common/probe.json")
    assert os.stat(open_path).st_uid == ids["hello"]


def test_data_is_handed_over_without_following_symlinks(agent, work, tmp_path):
    """Data the package's uid does not own yet (copied by root, or from
    before confinement) is given to it at the next start; a symlink in it is
    changed itself, never what it points to."""
    agent.ferry("install", build_package(work, name="other", version="1.0"), "--dangerous")
    common = os.path.join(agent.root, "data/other/common")
    uid = os.stat(common).st_uid
    target = tmp_path / "host-file"
    target.write_text("root's\n")
    os.makedirs(os.path.join(common, "sub/deeper"))
    open(os.path.join(common, "sub/deeper/f"), "w").close()
    os.symlink(str(target), os.path.join(common, "link"))
    os.symlink("/etc", os.path.join(common, "sub/etc"))
    for dirpath, dirnames, filenames in os.walk(common):
        for n in dirnames + filenames + [""]:
            os.lchown(os.path.join(dirpath, n), 0, 0)
    agent.ferry("restart", "other")
    for rel in ("", "sub", "sub/deeper", "sub/deeper/f", "link", "sub/etc"):
        assert os.lstat(os.path.join(common, rel)).st_uid == uid, rel
    assert os.stat(target).st_uid == 0
    assert os.stat("/etc").st_uid == 0 and os.stat("/etc/passwd").st_uid == 0


def test_connect_and_disconnect_take_effect_at_the_next_start(agent, work, listener, home_marker):
    agent.ferry("install", probe_package(agent, work, listener), "--dangerous")
    assert connections(agent) == {"network": (True, "auto"), "home": (False, "-"),
                                  "system-observe": (False, "-"), "log-observe": (False, "-")}
    r = probe(agent, restart=False)
    assert r["tcp"] == "ok"                      # network: auto-connected
    assert r["home"] == "No such file or directory"
    assert r["host_proc"] is False
    assert r["var_log"] == []                    # hidden: an empty tmpfs

    for plug in ("home", "system-observe", "log-observe"):
        p = agent.ferry("connect", f"hello:{plug}")
        assert p.stdout == (f"hello:{plug} ({plug}) connected; effective at the next start of "
                            "its apps (ferry restart hello)\n")
    assert connections(agent) == {"network": (True, "auto"), "home": (True, "manual"),
                                  "system-observe": (True, "manual"),
                                  "log-observe": (True, "manual")}
    # nothing changes for the app that runs ...
    assert probe(agent, restart=False)["home"] == "No such file or directory"
    # ... until its next start
    r = probe(agent)
    assert home_marker in r["home"]
    assert r["host_proc"] is True
    assert r["var_log"] == sorted(os.listdir("/var/log"))
    assert r["root_dir"] == "No such file or directory"  # home is not /root

    for plug in ("network", "home", "system-observe", "log-observe"):
        agent.ferry("disconnect", f"hello:{plug}")
    r = probe(agent)
    assert r["tcp"] == "Connection refused"      # its own loopback only
    assert r["home"] == "No such file or directory"
    assert r["host_proc"] is False
    assert r["var_log"] == []
    assert connections(agent)["network"] == (False, "manual")

    text = agent.ferry("connections").stdout.splitlines()
    assert text[0].split() == ["Package", "Plug", "Interface", "Connected", "Notes"]
    assert text[1].split() == ["hello", "network", "network", "no", "manual"]


def test_connections_survive_refresh_and_revert_and_go_with_remove(agent, work, listener):
    agent.ferry("install", probe_package(agent, work, listener), "--dangerous")
    agent.ferry("disconnect", "hello:network")
    agent.ferry("connect", "hello:home")
    v2 = probe_package(agent, work, listener, version="2.0")
    agent.ferry("install", v2, "--dangerous")
    assert agent.installed()["revision"] == "x2"
    assert connections(agent) == {"network": (False, "manual"), "home": (True, "manual"),
                                  "system-observe": (False, "-"), "log-observe": (False, "-")}
    r = probe(agent, restart=False)
    assert r["tcp"] == "Connection refused"      # the manual disconnect held
    assert isinstance(r["home"], list)
    agent.ferry("revert", "hello")
    assert connections(agent)["home"] == (True, "manual")
    # a revision that no longer declares a plug does not get it
    v3 = probe_package(agent, work, listener, version="3.0", plugs="[network]")
    agent.ferry("install", v3, "--dangerous")
    assert connections(agent) == {"network": (False, "manual")}
    assert probe(agent, restart=False)["home"] == "No such file or directory"
    uid = os.stat(os.path.join(agent.root, "data/hello/common")).st_uid
    agent.ferry("remove", "hello", "--purge")
    assert agent.json("connections") == []
    # the uid is free again: the next package gets it
    agent.ferry("install", build_package(work, name="again"), "--dangerous")
    assert os.stat(os.path.join(agent.root, "data/again/common")).st_uid == uid


def test_connect_errors(agent, work, listener):
    agent.ferry("install", probe_package(agent, work, listener, extra_yaml="""
        plugs:
          www:
            interface: content
        """, apps_extra=""), "--dangerous")
    p = agent.ferry("connect", "hello:camera", check=1)
    assert p.stderr == ('ferry: connect: hello has no plug "camera" (its plugs: www, network, '
                        'home, system-observe, log-observe)\n')
    p = agent.ferry("connect", "hello:www", check=1)
    assert p.stderr == ('ferry: connect: hello:www uses the interface "content", which this '
                        'device does not support (ferry-confine --list-interfaces)\n')
    p = agent.ferry("connect", "nope:home", check=1)
    assert p.stderr == "ferry: connect: nope is not installed\n"
    p = agent.ferry("connect", "hello", check=1)
    assert p.stderr == 'ferry: connect: expected NAME:PLUG, such as weather:home; got "hello"\n'
    p = as_nobody(agent, "connect", "hello:home")
    assert p.returncode == 1
    assert p.stderr == "ferry: connect: permission denied: only root may change packages\n"
    rows = {c["plug"]: c for c in agent.json("connections", "hello")}
    assert rows["www"]["supported"] is False and rows["www"]["connected"] is False
    assert "not supported here" in agent.ferry("connections", "hello").stdout


def test_seccomp_denial_in_ferry_logs_and_ferryd_log(agent, work, listener):
    agent.ferry("install", probe_package(agent, work, listener), "--dangerous")
    r = probe(agent, restart=False)
    assert r["userns"] != 0
    logs = agent.ferry("logs", "hello.probe", "-n", "50").stdout
    line = 'unshare(2) with CLONE_NEWUSER denied by seccomp rule "userns"'
    assert line in logs, logs
    assert "hello.probe: pid " in logs
    assert line in agent.logtext()


def test_devmode_reports_instead_of_denying(agent, work, listener):
    # devmode needs the device's consent (--devmode)
    agent.ferry("install", probe_package(agent, work, listener, extra_yaml="confinement: devmode"),
                "--dangerous", "--devmode")
    r = probe(agent, restart=False)
    assert r["userns"] == 0                      # allowed ...
    logs = agent.ferry("logs", "hello.probe", "-n", "50").stdout
    assert ('unshare(2) with CLONE_NEWUSER would be denied by seccomp rule "userns"' in logs
            and "allowed (devmode)" in logs), logs   # ... and reported
    # the rest of the sandbox stays
    assert r["write_etc"] == "Read-only file system"
    assert r["pid"] == 2


def test_hooks_run_confined(agent, work, listener):
    hook = 'id -u > "$FERRY_COMMON/hook-uid"; echo "$FERRY_HOOK" > "$FERRY_COMMON/hook-name"; ' \
        'touch /etc/ferry-hook 2>/dev/null || echo denied > "$FERRY_COMMON/hook-etc"'
    agent.ferry("install", build_package(work, hooks={"install": hook}), "--dangerous")
    common = os.path.join(agent.root, "data/hello/common")
    uid = os.stat(common).st_uid
    assert open(os.path.join(common, "hook-uid")).read() == f"{uid}\n"
    assert open(os.path.join(common, "hook-name")).read() == "install\n"
    assert open(os.path.join(common, "hook-etc")).read() == "denied\n"
    assert not os.path.exists("/etc/ferry-hook")


def cgroup_dir(controller, leaf):
    if os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return f"/sys/fs/cgroup/ferry/{leaf}"
    return f"/sys/fs/cgroup/{controller}/ferry/{leaf}"


def test_manifest_limits_reach_the_apps_cgroup(agent, work, listener):
    agent.ferry("install", probe_package(agent, work, listener, extra_yaml="""
        limits: {memory: 256M, cpu: 50%, pids: 64}
        """, apps_extra="""
        other:
          command: bin/probe
          daemon: simple
          limits: {memory: 128M}
        """), "--dangerous")
    probe(agent, restart=False)
    svcs = {s["app"]: s for s in agent.json("services")}
    for app, memory in (("probe", 256 << 20), ("other", 128 << 20)):
        leaf = f"hello.{app}.{svcs[app]['pid']}"
        v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
        if v2:
            d = cgroup_dir("", leaf)
            assert int(open(f"{d}/memory.max").read()) == memory
            assert open(f"{d}/pids.max").read().strip() == "64"
            assert open(f"{d}/cpu.max").read().split() == ["50000", "100000"]
        else:
            assert int(open(cgroup_dir("memory", leaf) + "/memory.limit_in_bytes").read()) == memory
            assert open(cgroup_dir("pids", leaf) + "/pids.max").read().strip() == "64"
            assert open(cgroup_dir("cpu", leaf) + "/cpu.cfs_quota_us").read().strip() == "50000"


def test_ferry_run_is_confined(agent, work, listener):
    show = "#!/bin/sh\necho \"pid $$ uid $(id -u)\"\nls /root 2>&1 || true\nls /ferry\n"
    agent.ferry("install", build_package(work, files={"bin/show": (show, 0o755)}, apps="""
        show:
          command: bin/show
        """), "--dangerous")
    uid = os.stat(os.path.join(agent.root, "data/hello/common")).st_uid
    p = agent.ferry("run", "hello.show")
    lines = p.stdout.splitlines()
    assert lines[0] == f"pid 2 uid {uid}"
    assert "No such file or directory" in lines[1]
    assert lines[2:] == ["hello"]
    # a user who is not root may not start it against a root ferryd
    p = as_nobody(agent, "run", "hello.show")
    assert p.returncode == 1
    assert p.stderr == ("ferry: run: hello.show runs confined as its package's own user, which "
                        "only root may start; run it as root (sudo ferry run hello.show)\n")


def test_unprivileged_ferryd_confines_as_its_own_user(listener):
    a = Agent(user=65534).start()
    work = os.path.join(a.dir, "work")
    os.mkdir(work)
    try:
        a.ferry("install", probe_package(a, work, listener), "--dangerous")
        r = probe(a, restart=False)
        assert (r["uid"], r["pid"]) == (65534, 2)
        assert r["write_etc"] == "Read-only file system"
        assert r["userns"] != 0
        assert "apps run confined" in a.logtext() and "user namespace" in a.logtext()
    finally:
        assert a.stop() == 0
        a.cleanup()


def test_confinement_off_is_loud(work):
    a = Agent(config={"confinement": "off"}).start()
    try:
        assert "CONFINEMENT IS OFF" in a.logtext()
    finally:
        assert a.stop() == 0
        a.cleanup()


def test_missing_ferry_confine_stops_ferryd(work):
    a = Agent(config={"ferry-confine": "/nonexistent/ferry-confine"})
    a.start(wait=False)
    assert a.wait_exit(60) == 1
    assert "ferry-confine not found (/nonexistent/ferry-confine)" in a.logtext()
    a.cleanup()


ECHO = r"""#!/usr/bin/python3
import os, socket
port = int(open(os.environ["FERRY"] + "/PORT").read())
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(4)
while True:
    c, _ = s.accept()
    c.sendall(b"echo " + c.recv(64))
    c.close()
"""


def exchange(port, deadline_s):
    """Connect to the host's 127.0.0.1:port until it answers or the time is up."""
    deadline = time.time() + deadline_s
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                c.sendall(b"hello")
                return c.recv(64).decode()
        except OSError as e:
            if time.time() > deadline:
                return type(e).__name__
            time.sleep(0.1)


def test_a_server_with_network_bind_alone_is_reached_from_the_host(agent, work):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    image = build_package(work, server=False, apps="""
        echo:
          command: bin/echo
          daemon: simple
          restart-delay: 100ms
          plugs: [network-bind]
        """, files={"bin/echo": (ECHO, 0o755), "PORT": (f"{port}\n", 0o644)})
    agent.ferry("install", image, "--dangerous")
    assert connections(agent) == {"network-bind": (True, "auto")}
    assert exchange(port, 30) == "echo hello", agent.ferry("logs", "hello.echo").stdout
    agent.ferry("disconnect", "hello:network-bind")
    agent.ferry("restart", "hello.echo", check=None)
    assert exchange(port, 2) == "ConnectionRefusedError"
