"""Configuration reaching apps: ferry-ctl inside the sandbox, talking to
ferryd over the package's own socket. A service and `ferry run` read their
configuration; the configure hook checks a value and sets another, and a
failing hook takes back everything; restart-on-configure restarts the
daemons on a change; one package cannot read or set another's
configuration; requests are bounded."""
import json
import os
import socket
import subprocess
import time

import pytest

from device import build_package, sh

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="confinement by a root ferryd needs root")

# A daemon that records what ferry-ctl tells it at each start.
SHOW = sh("""
    n=$(cat "$FERRY_COMMON/starts" 2>/dev/null || echo 0)
    echo $((n + 1)) > "$FERRY_COMMON/starts"
    { ferry-ctl get port; ferry-ctl get; } > "$FERRY_COMMON/seen.new" 2>&1
    mv "$FERRY_COMMON/seen.new" "$FERRY_COMMON/seen"
    exec sleep 1000
    """)



@pytest.fixture
def work(tmp_path):
    return str(tmp_path)


def wait_for(pred, what, agent, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"{what}\n{agent.logtext()}")


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def package(work, name="hello", hooks=None, restart=None, files=None):
    apps = "show:\n  command: bin/show\n  daemon: simple\n"
    if restart is not None:
        apps += f"  restart-on-configure: {'true' if restart else 'false'}\n"
    apps += "get:\n  command: bin/get\n"
    f = {"bin/show": (SHOW, 0o755),
         "bin/get": (sh('exec ferry-ctl "$@"'), 0o755)}
    f.update(files or {})
    return build_package(work, name=name, server=False, apps=apps, hooks=hooks, files=f)


def test_service_and_run_read_their_configuration(agent, work):
    agent.ferry("install", package(work, restart=True), "--dangerous")
    common = os.path.join(agent.root, "data/hello/common")
    wait_for(lambda: read(common + "/seen") == "{}\n", "the service did not start", agent)

    agent.ferry("set", "hello", "port=1884", "name=broker")
    # restart-on-configure: the daemon starts again and reads the new values
    seen = wait_for(lambda: (read(common + "/seen") or "").startswith("1884\n") and
                    read(common + "/seen"), "the service was not restarted", agent)
    assert json.loads(seen.split("\n", 1)[1]) == {"name": "broker", "port": "1884"}
    assert read(common + "/starts") == "2\n"

    # ferry run: the same socket, the same answers
    assert agent.ferry("run", "hello.get", "get", "port").stdout == "1884\n"
    assert json.loads(agent.ferry("run", "hello.get", "get", "port", "name", "nope").stdout) \
        == {"name": "broker", "port": "1884"}
    assert agent.ferry("run", "hello.get", "get", "nope").stdout == ""
    # an app sets its own configuration: no hook, no restart
    agent.ferry("run", "hello.get", "set", "token=abc", "mode=fast")
    agent.ferry("run", "hello.get", "unset", "mode")
    assert agent.json("get", "hello") == {"name": "broker", "port": "1884", "token": "abc"}
    assert read(common + "/starts") == "2\n"
    # the same rules as ferry set
    p = agent.ferry("run", "hello.get", "set", "Bad Key=1", check=1)
    assert p.stderr == 'ferry-ctl: set: key "Bad Key": expected 1 to 64 of a-z 0-9 - . _\n'
    p = agent.ferry("run", "hello.get", "set", "big=" + "x" * 4097, check=1)
    assert p.stderr == "ferry-ctl: set: big: value must be a string up to 4096 bytes\n"
    p = agent.ferry("run", "hello.get", "frobnicate", check=1)
    assert "unknown command \"frobnicate\" (expected get, set or unset)" in p.stderr

    # a setting that changes nothing restarts nothing
    agent.ferry("set", "hello", "port=1884")
    time.sleep(0.5)
    assert read(common + "/starts") == "2\n"


def test_no_restart_unless_asked(agent, work):
    agent.ferry("install", package(work), "--dangerous")
    common = os.path.join(agent.root, "data/hello/common")
    wait_for(lambda: read(common + "/seen"), "the service did not start", agent)
    agent.ferry("set", "hello", "port=1")
    time.sleep(0.5)
    assert read(common + "/starts") == "1\n"
    assert read(common + "/seen") == "{}\n"


CONFIGURE = """
    port=$(ferry-ctl get port)
    case "$port" in
    ''|*[!0-9]*) echo "port must be a number, not \\"$port\\""; exit 1;;
    esac
    ferry-ctl set url="mqtt://localhost:$port"
    ferry-ctl set hook-ran="$(cat "$FERRY_COMMON/starts" 2>/dev/null)"
    if [ "$port" = 666 ]; then ferry-ctl set evil=yes; echo "no devil's port"; exit 3; fi
    """


def test_configure_hook_reads_sets_and_rolls_back(agent, work):
    agent.ferry("install", package(work, hooks={"configure": CONFIGURE}, restart=True),
                "--dangerous")
    common = os.path.join(agent.root, "data/hello/common")
    wait_for(lambda: read(common + "/seen"), "the service did not start", agent)
    agent.ferry("set", "hello", "port=1883")
    good = {"port": "1883", "url": "mqtt://localhost:1883", "hook-ran": "1"}
    assert agent.json("get", "hello") == good
    # the restart came after the hook: the daemon sees what the hook set
    seen = wait_for(lambda: (read(common + "/seen") or "").startswith("1883\n") and
                    read(common + "/seen"), "the service was not restarted", agent)
    assert json.loads(seen.split("\n", 1)[1]) == good

    # the hook refuses: the command fails with its output, and everything
    # goes back, what the hook set through ferry-ctl included
    p = agent.ferry("set", "hello", "port=eighty", check=1)
    assert 'configure hook exited with status 1; last output:\nport must be a number, not ' \
        '"eighty"' in p.stderr
    p = agent.ferry("set", "hello", "port=666", "extra=1", check=1)
    assert "configure hook exited with status 3; last output:\nno devil's port" in p.stderr
    assert agent.json("get", "hello") == good
    with open(os.path.join(agent.root, "run/config/hello.json")) as f:
        assert json.load(f) == good
    # the daemon was not restarted by the failures (or was again, on the old values)
    time.sleep(0.5)
    assert json.loads(read(common + "/seen").split("\n", 1)[1]) == good
    changes = agent.json("changes")
    assert [c["status"] for c in changes if c["kind"] == "configure"][-2:] == ["Error", "Error"]


PROBE = r"""#!/usr/bin/python3
import json, os, socket, subprocess
root = open(os.environ["FERRY"] + "/ROOT").read().strip()
def ctl(*args, sock=None):
    env = dict(os.environ)
    if sock:
        env["FERRY_CTL_SOCKET"] = sock
    p = subprocess.run(["ferry-ctl", *args], capture_output=True, text=True, env=env)
    return [p.returncode, p.stdout, p.stderr]
def raw(path, data):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    try:
        s.connect(path)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            c = s.recv(65536)
            if not c:
                return out.decode()
            out += c
    except OSError as e:
        return e.strerror or str(e)
r = {
    "own": ctl("get"),
    "set-own": ctl("set", "stolen=yes"),
    "other-socket": ctl("get", sock=root + "/run/ctl/alpha.sock"),
    "other-run": os.path.exists(root + "/run/ctl"),
    # a name in the request is only a word: the package is the socket
    "name-in-request": raw("/run/ferry-ctl.sock", b"get\0alpha\0secret\0"),
    "name-as-verb": raw("/run/ferry-ctl.sock", b"alpha\0get\0"),
    "after": ctl("get"),
}
print(json.dumps(r))
"""


def test_one_package_cannot_reach_anothers_configuration(agent, work):
    """alpha holds a secret; beta's app tries every way to it."""
    agent.ferry("install", package(work, name="alpha"), "--dangerous")
    agent.ferry("set", "alpha", "secret=s3cret")
    probe = {"bin/probe": (PROBE, 0o755), "ROOT": (agent.root + "\n", 0o644)}
    agent.ferry("install", build_package(work, name="beta", server=False,
                                         apps="probe:\n  command: bin/probe\n", files=probe),
                "--dangerous")
    agent.ferry("set", "beta", "mine=1")
    r = json.loads(agent.ferry("run", "beta.probe").stdout)
    assert r["own"] == [0, '{\n  "mine": "1"\n}\n', ""]
    assert r["set-own"][0] == 0
    assert r["other-socket"][0] == 1 and "cannot reach ferryd" in r["other-socket"][2]
    assert r["other-run"] is False
    assert r["name-in-request"] == "ok\n{}\n"  # keys "alpha" and "secret" of beta: unset
    assert r["name-as-verb"].startswith("error\nunknown command \"alpha\"")
    assert "s3cret" not in json.dumps(r)
    # nothing of alpha changed, beta got what it set
    assert agent.json("get", "alpha") == {"secret": "s3cret"}
    assert agent.json("get", "beta") == {"mine": "1", "stolen": "yes"}

    # on the host: beta's uid cannot even connect to alpha's socket
    beta_uid = os.stat(os.path.join(agent.root, "data/beta/common")).st_uid
    alpha_sock = os.path.join(agent.root, "run/ctl/alpha.sock")
    assert os.stat(alpha_sock).st_mode & 0o777 == 0o600
    code = ("import socket,sys\ns=socket.socket(socket.AF_UNIX)\n"
            "try:\n s.connect(sys.argv[1]); print('connected')\n"
            "except OSError as e: print(e.strerror)\n")
    p = subprocess.run(["python3", "-c", code, alpha_sock], capture_output=True, text=True,
                       preexec_fn=lambda: (os.setgroups([]), os.setgid(beta_uid),
                                           os.setuid(beta_uid)))
    assert p.stdout.strip() in ("Permission denied", "No such file or directory"), p.stdout


def test_requests_are_bounded(agent, work):
    agent.ferry("install", package(work), "--dangerous")
    sock = os.path.join(agent.root, "run/ctl/hello.sock")
    wait_for(lambda: os.path.exists(sock), "no socket", agent)

    def exchange(data, shut=True):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(10)
        s.connect(sock)
        try:
            s.sendall(data)  # ferryd may answer and close before all is sent
            if shut:
                s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        out = b""
        while True:
            c = s.recv(65536)
            if not c:
                return out
            out += c

    assert exchange(b"set\0a=" + b"x" * 20000 + b"\0") == b"error\nrequest larger than 16384 bytes\n"
    assert exchange(b"get") == b"error\nmalformed request: expected words each ended by a NUL byte\n"
    words = b"".join(b"k%d\0" % i for i in range(70))
    assert exchange(b"get\0" + words).startswith(b"error\ntoo many words")
    # one that never finishes its request is closed after its time
    t = time.time()
    assert exchange(b"get\0", shut=False) == b""
    assert 4 < time.time() - t < 9
    # at most four at once on one socket
    held = []
    for _ in range(4):
        s = socket.socket(socket.AF_UNIX)
        s.connect(sock)
        held.append(s)
    time.sleep(0.2)
    try:
        assert exchange(b"get\0") == b""  # closed at once, unanswered
    except ConnectionResetError:
        pass
    for s in held:
        s.close()
    time.sleep(0.2)
    assert exchange(b"get\0") == b"ok\n{}\n"
    # a package's configuration has at most 256 keys
    for i in range(4):
        values = [f"k{i}-{j}=v" for j in range(64)]
        agent.ferry("run", "hello.get", "set", *values)
    p = agent.ferry("run", "hello.get", "set", "one-more=1", check=1)
    assert p.stderr == "ferry-ctl: hello would have more than 256 configuration keys\n"
