"""ferryd and the device verbs of ferry: a real ferryd in a temporary root,
real images (loop-mounted as root), real services and hooks. Installing from
files (--dangerous), refresh, rollback for each kind of failure, revert,
remove, holds, services, logs, configuration, permissions."""
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import binary, run
from device import Agent, build_package


def untimed(line):
    """A line of ferry logs without its time, which it must have."""
    stamp, rest = line.split(" ", 1)
    assert time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"), line
    return rest


@pytest.fixture
def work(tmp_path):
    return str(tmp_path)


def test_ferryd_usage_errors():
    p = run("ferryd", "--root", check=2)
    assert "--root needs a value" in p.stderr
    p = run("ferryd", "--store", "http://127.0.0.1:1", check=2)
    assert "--store and --trust go together" in p.stderr


def test_ferryd_config_file_errors(tmp_path):
    conf = tmp_path / "ferryd.conf"
    conf.write_text("# comment\nretain = 3\nrefresh-tmer = 4\n")
    p = run("ferryd", "--config", conf, check=2)
    assert f'{conf}:3: unknown key "refresh-tmer"' in p.stderr
    conf.write_text("retain = 30\n")
    p = run("ferryd", "--config", conf, "--root", tmp_path / "r", check=2)
    assert 'retain: expected 2 to 20; got "30"' in p.stderr


def test_ferry_without_ferryd(tmp_path):
    p = run("ferry", "list", env={"FERRY_SOCKET": str(tmp_path / "none.sock")}, check=1)
    assert f"cannot reach ferryd at {tmp_path}/none.sock" in p.stderr


def test_second_ferryd_on_same_root_refused(agent):
    p = run("ferryd", "--root", agent.root, "--socket", agent.socket + "2", check=1)
    assert "another ferryd is using this root" in p.stderr


def test_install_file_needs_dangerous(agent, work):
    image = build_package(work)
    p = agent.ferry("install", image, check=1)
    assert p.stderr == (f"ferry: install: cannot install {image}: no signed metadata covers this "
                        "file; use --dangerous to install it without verification\n")
    assert agent.installed() is None


def test_install_not_a_package(agent, work):
    bad = os.path.join(work, "bad.ferry")
    with open(bad, "w") as f:
        f.write("not an image\n")
    p = agent.ferry("install", bad, "--dangerous", check=1)
    assert f"{bad}: not a ferry package (no squashfs image)" in p.stderr
    assert agent.installed() is None


def test_install_corrupt_image_leaves_nothing(agent, work):
    image = build_package(work)
    data = bytearray(open(image, "rb").read())
    for i in range(96, len(data)):       # keep the magic, ruin the rest
        data[i] = (data[i] * 7 + 13) & 0xFF
    bad = os.path.join(work, "corrupt.ferry")
    open(bad, "wb").write(bytes(data))
    p = agent.ferry("install", bad, "--dangerous", check=1)
    assert "change 1 failed and was rolled back: prepare-file:" in p.stderr
    assert agent.installed() is None
    assert agent.check_invariant() is None
    assert os.listdir(os.path.join(agent.root, "images", ".incoming")) == []
    assert [f for f in os.listdir(os.path.join(agent.root, "images")) if f != ".incoming"] == []


def test_install_list_info_run(agent, work):
    image = build_package(work, version="1.0")
    p = agent.ferry("install", image, "--dangerous")
    assert p.stdout == "hello 1.0 (revision x1) installed\n"
    assert agent.check_invariant() == "x1"
    lines = agent.ferry("list").stdout.splitlines()
    assert lines[0].split() == ["Name", "Version", "Rev", "Channel", "Notes"]
    assert lines[1].split() == ["hello", "1.0", "x1", "latest/stable", "dangerous"]
    info = agent.json("info", "hello")
    assert info["revision"] == "x1" and info["version"] == "1.0" and info["local"] is True
    assert {a["name"]: a.get("active") for a in info["apps"]} == {"server": "active", "hello": None}
    text = agent.ferry("info", "hello").stdout
    assert "server: bin/server (simple daemon, active)" in text
    p = agent.ferry("run", "hello", "a", "b")
    assert p.stdout == "hello hello x1 /ferry/hello/data a b\n"  # confined
    p = agent.ferry("run", "hello.nope", check=1)
    assert p.stderr == "ferry: run: hello has no app nope\n"
    svcs = agent.json("services")
    assert [(s["name"], s["app"], s["active"], s["revision"]) for s in svcs] == [
        ("hello", "server", "active", "x1")]
    assert untimed(agent.ferry("logs", "hello.server").stdout.splitlines()[-1]) == \
        "hello.server: server 1.0 revision x1 starting"


def test_refresh_copies_data_and_keeps_old(agent, work):
    v1 = build_package(work, version="1.0")
    v2 = build_package(work, version="2.0")
    agent.ferry("install", v1, "--dangerous")
    open(os.path.join(agent.root, "data/hello/x1/mark-user-file"), "w").write("kept\n")
    p = agent.ferry("install", v2, "--dangerous")
    assert p.stdout == "hello 2.0 (revision x2) installed, replacing revision x1\n"
    assert agent.check_invariant() == "x2"
    assert agent.ask()[3] == ["mark-user-file"]
    rows = [r for r in agent.json("list", "--all")]
    assert [(r["revision"], r["current"]) for r in rows] == [("x1", 0), ("x2", 1)]
    # the third revision prunes the first (retain 2), never the current or previous
    v3 = build_package(work, version="3.0")
    agent.ferry("install", v3, "--dangerous")
    assert [r["revision"] for r in agent.json("list", "--all")] == ["x2", "x3"]
    assert not os.path.exists(os.path.join(agent.root, "images/hello_x1.ferry"))
    assert not os.path.exists(os.path.join(agent.root, "data/hello/x1"))
    assert not os.path.exists(os.path.join(agent.root, "mnt/hello/x1"))


def install_v1_v2(agent, work, **v2):
    agent.ferry("install", build_package(work, version="1.0"), "--dangerous")
    agent.ferry("install", build_package(work, version="2.0", **v2), "--dangerous")
    assert agent.check_invariant() == "x2"


def assert_rolled_back(agent, p, step, message, blocked=True):
    """The failed refresh to x3 was undone: x2 runs with its data as it was,
    and ferry changes / ferry change show which step failed and why."""
    assert p.returncode == 1
    assert p.stderr.startswith(f"ferry: install: change 3 failed and was rolled back: {step}: ")
    assert message in p.stderr
    assert agent.check_invariant() == "x2"
    v, rev, data, markers = agent.ask()
    assert (v, rev) == ("2.0", "x2")
    assert markers == [], f"the old revision's data changed: {markers}"
    assert not os.path.exists(os.path.join(agent.root, "data/hello/x3"))
    assert not os.path.exists(os.path.join(agent.root, "mnt/hello/x3"))
    assert not os.path.exists(os.path.join(agent.root, "images/hello_x3.ferry"))
    changes = agent.ferry("changes").stdout.splitlines()
    assert changes[-1].split()[:2] == ["3", "Error"]
    ch = agent.json("change", "3")
    failed = [s for s in ch["steps"] if s["status"] == "Error"]
    assert [s["kind"] for s in failed] == [step]
    assert message in failed[0]["msg"]
    text = agent.ferry("change", "3").stdout
    assert f"\n{step}: " in text
    # not tried again until a newer one comes, when it was the new revision's fault
    info = agent.json("info", "hello")
    assert ({"revision": "x3", "reason": "failed"} in [
        {k: b[k] for k in ("revision", "reason")} for b in info["blocked"]]) == blocked


def test_rollback_check_health_fails(agent, work):
    install_v1_v2(agent, work)
    v3 = build_package(work, version="3.0", hooks={
        "post-refresh": 'touch "$FERRY_DATA/mark-migrated-to-3"',
        "check-health": 'echo "database is missing"; exit 3'})
    p = agent.ferry("install", v3, "--dangerous", check=None)
    assert_rolled_back(agent, p, "health",
                       "check-health hook exited with status 3; last output:\ndatabase is missing")


def test_rollback_check_health_hangs(agent, work):
    install_v1_v2(agent, work)
    v3 = build_package(work, version="3.0", hooks={"check-health": "echo waiting; exec sleep 600"},
                       health={"timeout": "500ms"})
    p = agent.ferry("install", v3, "--dangerous", check=None)
    assert_rolled_back(agent, p, "health",
                       "check-health hook did not finish within 500 ms; killed; last output:\nwaiting")


def test_rollback_pre_refresh_fails(agent, work):
    agent.ferry("install", build_package(work, version="1.0"), "--dangerous")
    agent.ferry("install", build_package(work, version="2.0", hooks={
        "pre-refresh": 'echo "refusing: busy"; exit 1'}), "--dangerous")
    p = agent.ferry("install", build_package(work, version="3.0"), "--dangerous", check=None)
    assert_rolled_back(agent, p, "pre-refresh",
                       "pre-refresh hook exited with status 1; last output:\nrefusing: busy",
                       blocked=False)


def test_rollback_post_refresh_fails(agent, work):
    install_v1_v2(agent, work)
    v3 = build_package(work, version="3.0", hooks={
        "post-refresh": 'touch "$FERRY_DATA/mark-half-migrated"; echo "migration failed" >&2; exit 2'})
    p = agent.ferry("install", v3, "--dangerous", check=None)
    assert_rolled_back(agent, p, "post-refresh",
                       "post-refresh hook exited with status 2; last output:\nmigration failed")


@pytest.mark.parametrize("hook", ["pre-refresh", "post-refresh"])
def test_rollback_refresh_hook_hangs(work, hook):
    a = Agent(config={"hook-timeout": "500ms"}).start()
    try:
        old = {"pre-refresh": {"pre-refresh": "echo flushing; exec sleep 600"}}.get(hook)
        a.ferry("install", build_package(work, version="1.0"), "--dangerous")
        a.ferry("install", build_package(work, version="2.0", hooks=old), "--dangerous")
        new = {"post-refresh": {"post-refresh": "echo migrating; exec sleep 600"}}.get(hook)
        p = a.ferry("install", build_package(work, version="3.0", hooks=new), "--dangerous",
                    check=None)
        what = "flushing" if hook == "pre-refresh" else "migrating"
        assert_rolled_back(a, p, hook,
                           f"{hook} hook did not finish within 500 ms; killed; last output:\n{what}",
                           blocked=hook == "post-refresh")
    finally:
        assert a.stop() == 0
        a.cleanup()


def test_rollback_daemon_dies_in_grace_period(agent, work):
    install_v1_v2(agent, work)
    dying = "#!/bin/sh\necho 'cannot bind port 8080' >&2\nsleep 0.2\nexit 7\n"
    v3 = build_package(work, version="3.0", health={"grace": "5s"},
                       files={"bin/server": (dying, 0o755)})
    p = agent.ferry("install", v3, "--dangerous", check=None)
    assert_rolled_back(agent, p, "health",
                       "daemon hello.server exited with status 7 within the 5000 ms grace period; "
                       "last output:\n")
    assert "cannot bind port 8080" in p.stderr


def test_rollback_daemon_fails_to_start(agent, work):
    install_v1_v2(agent, work)
    broken = "#!/no/such/interpreter\n"
    # a long grace: the failing daemon ends the watch at once, however
    # slowly a loaded machine starts it
    v3 = build_package(work, version="3.0", health={"grace": "20s"},
                       files={"bin/server": (broken, 0o755)})
    p = agent.ferry("install", v3, "--dangerous", check=None)
    # the daemon starts in its sandbox, where ferry-confine cannot execute it
    assert_rolled_back(agent, p, "health",
                       "daemon hello.server exited with status 127")
    assert "cannot execute /ferry/hello/current/bin/server: No such file or directory" in p.stderr


def test_first_install_that_fails_leaves_nothing(agent, work):
    v1 = build_package(work, version="1.0", hooks={"install": "echo no; exit 1"})
    p = agent.ferry("install", v1, "--dangerous", check=1)
    assert "change 1 failed and was rolled back: post-refresh: install hook exited with status 1" \
        in p.stderr
    assert agent.check_invariant() is None
    assert os.listdir(os.path.join(agent.root, "mnt")) in ([], ["hello"])
    assert not os.path.exists(os.path.join(agent.root, "mnt/hello/x1"))


def test_revert(agent, work):
    install_v1_v2(agent, work)
    p = agent.ferry("revert", "hello")
    assert p.stdout == "hello reverted to revision x1\n"
    assert agent.check_invariant() == "x1"
    info = agent.json("info", "hello")
    assert [(b["revision"], b["reason"]) for b in info["blocked"]] == [("x2", "reverted")]
    p = agent.ferry("revert", "hello", "--revision", "x1", check=1)
    assert p.stderr == "ferry: revert: hello revision x1 is already current\n"
    p = agent.ferry("revert", "hello", "--revision", "x9", check=1)
    assert p.stderr == "ferry: revert: hello has no revision x9 on this device\n"
    agent.ferry("revert", "hello", "--revision", "x2")
    assert agent.check_invariant() == "x2"
    p = agent.ferry("revert", "nope", check=1)
    assert p.stderr == "ferry: revert: nope is not installed\n"


def test_remove_keeps_data_and_purge_removes_it(agent, work):
    v1 = build_package(work, version="1.0", hooks={"remove": 'echo "removing $FERRY_REVISION"'})
    agent.ferry("install", v1, "--dangerous")
    open(os.path.join(agent.root, "data/hello/x1/mark-keep"), "w").close()
    open(os.path.join(agent.root, "data/hello/common/shared"), "w").close()
    p = agent.ferry("remove", "hello")
    assert p.stdout == "hello removed\n"
    assert agent.check_invariant(answers=False) is None
    assert not os.path.exists(os.path.join(agent.root, "mnt/hello"))
    assert os.listdir(os.path.join(agent.root, "images")) in ([], [".incoming"])
    assert sorted(os.listdir(os.path.join(agent.root, "data/hello"))) == ["common", "saved"]
    assert "removing x1" in open(os.path.join(agent.root, "logs/hello/hooks.log")).read()
    # installing again starts from the data kept
    agent.ferry("install", v1, "--dangerous")
    assert agent.check_invariant() == "x2"
    assert agent.ask()[3] == ["mark-keep"]
    agent.ferry("remove", "hello", "--purge")
    assert not os.path.exists(os.path.join(agent.root, "data/hello"))
    p = agent.ferry("remove", "hello", check=1)
    assert p.stderr == "ferry: remove: hello is not installed\n"


def test_holds(agent, work):
    agent.ferry("install", build_package(work), "--dangerous")
    p = agent.ferry("hold", "hello", check=1)
    assert "say how long: --for DURATION" in p.stderr
    p = agent.ferry("hold", "hello", "--for", "3 days", check=1)
    assert 'expected a duration such as 30m, 12h, 7d or 2w; got "3 days"' in p.stderr
    p = agent.ferry("hold", "hello", "--forever")
    assert p.stdout == "automatic refreshes of hello held forever\n"
    assert agent.ferry("list").stdout.splitlines()[1].split()[-1] == "dangerous,held"
    assert agent.json("info", "hello")["held-until"] == 0
    agent.ferry("unhold", "hello")
    assert "held-until" not in agent.json("info", "hello")
    before = int(time.time())
    p = agent.ferry("hold", "--for", "2h")
    assert p.stdout.startswith("automatic refreshes of all packages held until ")
    until = agent.json("info", "hello")["held-until"]
    assert before + 7200 <= until <= int(time.time()) + 7200
    p = agent.ferry("hold", "nope", "--forever", check=1)
    assert p.stderr == "ferry: hold: nope is not installed\n"
    agent.ferry("unhold")
    assert "held-until" not in agent.json("info", "hello")


def test_services_stop_start_restart_and_supervision(agent, work):
    agent.ferry("install", build_package(work), "--dangerous")
    pid = agent.json("services")[0]["pid"]
    assert agent.ferry("stop", "hello.server").stdout == "stopped hello.server\n"
    assert agent.json("services")[0]["active"] == "inactive"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    agent.ferry("start", "hello")
    assert agent.json("services")[0]["active"] == "active"
    agent.ask()
    pid = agent.json("services")[0]["pid"]
    agent.ferry("restart", "hello.server")
    assert agent.json("services")[0]["pid"] != pid
    # a daemon that dies is restarted (restart: on-failure, delay 100ms)
    pid = agent.json("services")[0]["pid"]
    os.kill(pid, signal.SIGKILL)
    deadline = time.time() + 30
    while time.time() < deadline:
        s = agent.json("services")[0]
        if s["active"] == "active" and s["pid"] not in (0, pid):
            break
        time.sleep(0.05)
    assert s["restarts"] == 1 and s["pid"] != pid
    agent.ask()
    assert "hello.server killed by signal 9" in agent.ferry("logs", "hello.server", "-n", "50").stdout
    p = agent.ferry("stop", "hello.hello", check=1)
    assert p.stderr == "ferry: stop: hello.hello is not a service\n"


def test_stop_timeout_kills_a_daemon_that_ignores_sigterm(agent, work):
    stubborn = "#!/bin/sh\ntrap '' TERM\nwhile :; do sleep 0.1; done\n"
    image = build_package(work, server=False, apps="""
        stubborn:
          command: bin/stubborn
          daemon: simple
          stop-timeout: 300ms
        """, files={"bin/stubborn": (stubborn, 0o755)})
    agent.ferry("install", image, "--dangerous")
    agent.ferry("stop", "hello")
    assert agent.json("services")[0]["active"] == "inactive"
    assert "did not stop within its stop-timeout; killing it" in agent.logtext()


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def descendants(pid):
    """Every process below pid."""
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                stat = open(f"/proc/{d}/stat").read()
                children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def test_notify_oneshot_and_forking_daemons(agent, work):
    notify = """#!/usr/bin/python3
import os, socket, time
time.sleep(0.2)
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])
time.sleep(1000)
"""
    forking = "#!/bin/sh\nsetsid sleep 1000 </dev/null >/dev/null 2>&1 &\nexit 0\n"
    oneshot = '#!/bin/sh\ntouch "$FERRY_COMMON/setup-done"\n'
    image = build_package(work, server=False, apps="""
        ready:
          command: bin/notify
          daemon: notify
        bg:
          command: bin/forking
          daemon: forking
        setup:
          command: bin/oneshot
          daemon: oneshot
        """, files={"bin/notify": (notify, 0o755), "bin/forking": (forking, 0o755),
                    "bin/oneshot": (oneshot, 0o755)})
    agent.ferry("install", image, "--dangerous")
    svcs = {s["app"]: s for s in agent.json("services")}
    assert svcs["ready"]["active"] == "active"
    assert svcs["setup"]["active"] == "exited"
    assert os.path.exists(os.path.join(agent.root, "data/hello/common/setup-done"))
    bg = svcs["bg"]
    assert bg["active"] == "active"
    # the pid is the sandbox's monitor; the daemon the script left runs in
    # its sandbox (ferry-init keeps a forking service's sandbox while
    # processes remain)
    sleepers = [p for p in descendants(bg["pid"]) if cmdline(p)[:1] == [b"sleep"]]
    assert len(sleepers) == 1, [cmdline(p) for p in descendants(bg["pid"])]
    agent.ferry("stop", "hello.bg")
    for pid in (bg["pid"], sleepers[0]):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_notify_daemon_that_never_gets_ready_fails_install(agent, work):
    image = build_package(work, server=False, apps="""
        ready:
          command: bin/notready
          daemon: notify
        """, files={"bin/notready": ("#!/bin/sh\necho starting\nexit 4\n", 0o755)})
    p = agent.ferry("install", image, "--dangerous", check=1)
    assert "start-services: hello.ready exited with status 4 while starting" in p.stderr
    assert agent.check_invariant() is None


def test_logs_are_bounded_and_rotated(work):
    a = Agent(config={"log-max-size": "8192"}).start()
    try:
        chatty = "#!/bin/sh\ni=0\nwhile [ $i -lt 2000 ]; do echo \"line $i of chatter\"; i=$((i+1)); done\nexec sleep 1000\n"
        image = build_package(work, server=False, apps="""
            chatty:
              command: bin/chatty
              daemon: simple
            """, files={"bin/chatty": (chatty, 0o755)})
        a.ferry("install", image, "--dangerous")
        deadline = time.time() + 30
        while time.time() < deadline and "line 1999" not in a.ferry("logs", "hello.chatty").stdout:
            time.sleep(0.05)
        logdir = os.path.join(a.root, "logs/hello")
        assert os.path.exists(os.path.join(logdir, "chatty.log.1"))
        assert os.path.getsize(os.path.join(logdir, "chatty.log")) <= 8192 + 16384
        assert [untimed(line) for line in
                a.ferry("logs", "hello.chatty", "-n", "2").stdout.splitlines()] == \
            ["hello.chatty: line 1998 of chatter", "hello.chatty: line 1999 of chatter"]
    finally:
        assert a.stop() == 0
        a.cleanup()


def test_logs_follow(agent, work):
    agent.ferry("install", build_package(work), "--dangerous")
    env = dict(os.environ, FERRY_SOCKET=agent.socket)
    p = subprocess.Popen([binary("ferry"), "logs", "hello.server", "-f", "-n", "1"],
                         stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert untimed(p.stdout.readline()) == "hello.server: server 1.0 revision x1 starting\n"
        agent.ferry("restart", "hello.server")
        assert untimed(p.stdout.readline()) == \
            "hello.server: -- ferryd: starting hello.server revision x1 --\n"
        assert untimed(p.stdout.readline()) == "hello.server: server 1.0 revision x1 starting\n"
    finally:
        p.kill()
        p.wait()


def test_set_get_and_configure_hook(agent, work):
    configure = """
        v=$(python3 -c 'import json,os; print(json.load(open(os.environ["FERRY_CONFIG"])).get("port",""))')
        case "$v" in
        ''|*[!0-9]*) echo "port must be a number, not \\"$v\\""; exit 1;;
        esac
        echo "$v" > "$FERRY_COMMON/port"
        """
    agent.ferry("install", build_package(work, hooks={"configure": configure}), "--dangerous")
    agent.ferry("set", "hello", "port=8080", "name=web")
    assert agent.ferry("get", "hello", "port").stdout == "8080\n"
    assert agent.json("get", "hello") == {"name": "web", "port": "8080"}
    assert open(os.path.join(agent.root, "data/hello/common/port")).read() == "8080\n"
    p = agent.ferry("set", "hello", "port=eighty", check=1)
    assert 'configure hook exited with status 1; last output:\nport must be a number, not "eighty"' \
        in p.stderr
    assert agent.ferry("get", "hello", "port").stdout == "8080\n"
    p = agent.ferry("get", "hello", "nope", check=1)
    assert p.stderr == 'ferry: get: hello has no configuration key "nope"\n'
    p = agent.ferry("set", "hello", "Bad Key=1", check=1)
    assert 'set: key "Bad Key": expected 1 to 64 of a-z 0-9 - . _' in p.stderr


def test_others_may_read_but_not_change(agent, work):
    image = build_package(work)
    agent.ferry("install", image, "--dangerous")
    os.chmod(agent.dir, 0o755)
    nobody = lambda: (os.setgid(65534), os.setuid(65534))  # noqa: E731
    env = dict(os.environ, FERRY_SOCKET=agent.socket)
    env.pop("ASAN_OPTIONS", None)
    p = subprocess.run([binary("ferry"), "list"], capture_output=True, text=True, env=env,
                       preexec_fn=nobody)
    assert p.returncode == 0, p.stderr
    assert "hello" in p.stdout
    p = subprocess.run([binary("ferry"), "remove", "hello"], capture_output=True, text=True,
                       env=env, preexec_fn=nobody)
    assert p.returncode == 1
    assert p.stderr == "ferry: remove: permission denied: only root may change packages\n"
    assert agent.installed() is not None


def test_services_come_back_after_ferryd_restarts(agent, work):
    agent.ferry("install", build_package(work), "--dangerous")
    assert agent.stop() == 0
    assert not os.path.exists(agent.socket)
    agent.start()
    assert agent.check_invariant() == "x1"


def test_api_errors(agent):
    r = subprocess.run(["curl", "-s", "--unix-socket", agent.socket, "http://x/v1/nope"],
                       capture_output=True, text=True)
    body = json.loads(r.stdout)
    assert body["type"] == "error" and body["status-code"] == 404
    r = subprocess.run(["curl", "-s", "--unix-socket", agent.socket, "-X", "POST", "-d", "x" * 70000,
                        "http://x/v1/packages"], capture_output=True, text=True)
    assert json.loads(r.stdout)["result"]["message"] == "request body larger than 65536 bytes"
    r = subprocess.run(["curl", "-s", "--unix-socket", agent.socket, "-X", "POST", "-d", "[1",
                        "http://x/v1/packages"], capture_output=True, text=True)
    assert json.loads(r.stdout)["result"]["message"] == "request body: expected a JSON object"
    p = agent.ferry("change", "99", check=1)
    assert p.stderr == "ferry: change: no change 99\n"
    p = agent.ferry("refresh", check=1)
    assert "ferryd has no store" in p.stderr


def refresh_story(a, work):
    """v1, v2, a v3 whose health check fails (rolled back), remove."""
    a.ferry("install", build_package(work, version="1.0"), "--dangerous")
    a.ferry("install", build_package(work, version="2.0"), "--dangerous")
    assert a.check_invariant() == "x2"
    bad = build_package(work, version="3.0", hooks={"check-health": "echo broken; exit 1"})
    p = a.ferry("install", bad, "--dangerous", check=None)
    assert_rolled_back(a, p, "health", "check-health hook exited with status 1")
    tree = os.path.join(a.root, "mnt/hello/x2")
    assert not os.path.ismount(tree)
    st = os.stat(os.path.join(tree, "bin/server"))
    assert st.st_mode & 0o222 == 0, "an extracted tree is read-only"
    a.ferry("remove", "hello")
    assert a.check_invariant(answers=False) is None
    assert not os.path.exists(os.path.join(a.root, "mnt/hello"))


def test_extracted_images(work):
    a = Agent(config={"images": "extract"}).start()
    try:
        assert a.api("/v1/system")["images"] == "extracted"
        refresh_story(a, work)
    finally:
        assert a.stop() == 0
        a.cleanup()


def test_unprivileged_ferryd():
    """ferryd without root (development): images extracted, services and
    hooks run as that user, root and that user may change state."""
    a = Agent(user=65534).start()
    work = os.path.join(a.dir, "work")
    os.mkdir(work)
    try:
        system = a.api("/v1/system")
        assert system["privileged"] is False and system["images"] == "extracted"
        refresh_story(a, work)
        a.ferry("install", build_package(work, version="4.0"), "--dangerous")
        pid = a.json("services")[0]["pid"]
        with open(f"/proc/{pid}/status") as f:
            uids = [line.split()[1:] for line in f if line.startswith("Uid:")][0]
        assert uids[0] == "65534"
    finally:
        assert a.stop() == 0
        a.cleanup()


def test_unprivileged_ferryd_cannot_loop_mount():
    a = Agent(config={"images": "mount"}, user=65534)
    try:
        p = subprocess.run([binary("ferryd"), "--root", a.root, "--config", a.config],
                           capture_output=True, text=True,
                           preexec_fn=lambda: (os.setgid(65534), os.setuid(65534)))
        assert p.returncode == 2
        assert p.stderr == "ferryd: images = mount needs root; use images = extract\n"
    finally:
        a.cleanup()
