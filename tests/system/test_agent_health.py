"""The health check after a refresh, as the manifest's `health` sets it
(start-period, timeout, interval, retries, grace), and the reason a failed
one gives: a daemon that ended during the check is named, with how it
ended and its own last lines of output, in the change, `ferry change`,
its --json and the outcome report the store receives."""
import os

import pytest

from device import build_package
from storelib import store  # noqa: F401 (fixture)
from test_reports import Publisher, device, wait_for

NOTIFY_DYING = """#!/usr/bin/python3
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"READY=1", os.environ["NOTIFY_SOCKET"])
print("opening /ferry/db/main.sqlite")
print("fatal: database is locked")
sys.exit(5)
"""


def install_v1_v2(agent, work, **v2):
    agent.ferry("install", build_package(work, version="1.0"), "--dangerous")
    agent.ferry("install", build_package(work, version="2.0", **v2), "--dangerous")


def failed_step(agent, change):
    ch = agent.json("change", str(change))
    return [s for s in ch["steps"] if s["status"] == "Error"]


@pytest.mark.parametrize("kind", ["simple", "notify"])
def test_daemon_exit_during_check_health_is_named(agent, tmp_path, kind):
    work = str(tmp_path)
    install_v1_v2(agent, work)
    if kind == "simple":
        server = ("#!/bin/sh\necho 'loading /etc/broker.conf'\n"
                  "echo 'Error: unable to open log file' >&2\nexit 3\n")
        apps, files, how, last = None, {"bin/server": (server, 0o755)}, "exited with status 3", \
            "Error: unable to open log file"
    else:
        apps = "db:\n  command: bin/db\n  daemon: notify\n  restart: never\n"
        files, how, last = {"bin/db": (NOTIFY_DYING, 0o755)}, "exited with status 5", \
            "fatal: database is locked"
    app = "server" if kind == "simple" else "db"
    # the hook cannot tell why it fails: it only sees a refused connection
    v3 = build_package(work, version="3.0", apps=apps, files=files,
                       hooks={"check-health": "sleep 1; echo 'connection refused'; exit 1"})
    p = agent.ferry("install", v3, "--dangerous", check=1)
    want = (f"daemon hello.{app} {how} while the check-health hook ran "
            "(the check-health hook exited with status 1); last output:\n")
    assert f"change 3 failed and was rolled back: health: {want}" in p.stderr
    assert last in p.stderr
    assert agent.check_invariant() == "x2"
    step = failed_step(agent, 3)
    assert [s["kind"] for s in step] == ["health"]
    assert step[0]["msg"].startswith(want)
    assert last in step[0]["msg"]
    assert agent.ferry("changes").stdout.splitlines()[-1].split()[:2] == ["3", "Error"]
    assert f"\nhealth: {want}" in agent.ferry("change", "3").stdout


@pytest.mark.parametrize("backend", ["sqlite"])
def test_report_names_the_daemon(store, tmp_path):  # noqa: F811
    store.start()
    pub = Publisher(store)
    dev = device(pub).start()
    try:
        work = str(tmp_path)
        pub.push(build_package(work, version="1.0"))
        dev.ferry("install", "hello")
        dying = "#!/bin/sh\necho 'Error: address already in use'\nexit 4\n"
        pub.push(build_package(work, version="2.0", files={"bin/server": (dying, 0o755)},
                               hooks={"check-health": "sleep 1; echo refused; exit 1"}))
        dev.ferry("refresh", "hello", check=1)
        got = wait_for("two reports", lambda: len(pub.reports()) == 2 and pub.reports())
        failed = got[0]
        assert failed["result"] == "rolled-back" and failed["failed-step"] == "health"
        assert failed["message"] == (
            "daemon hello.server exited with status 4 while the check-health hook ran "
            "(the check-health hook exited with status 1)")
        assert "Error: address already in use" in failed["log"]
    finally:
        assert dev.stop() == 0, dev.logtext()
        dev.cleanup()


def counting_hook(until_ready=True):
    """check-health: counts its attempts in $FERRY_COMMON/attempts; passes
    once the daemon made $FERRY_COMMON/ready (or never)."""
    body = 'echo x >> "$FERRY_COMMON/attempts"\n'
    if until_ready:
        body += 'test -e "$FERRY_COMMON/ready" || { echo "not ready yet"; exit 1; }\n'
    else:
        body += 'echo "still broken"; exit 1\n'
    return {"check-health": body}


SLOW_SERVER = ("#!/bin/sh\nrm -f \"$FERRY_COMMON/ready\"\nsleep 1.5\n"
               "touch \"$FERRY_COMMON/ready\"\nexec sleep 600\n")


def attempts(agent):
    with open(os.path.join(agent.root, "data/hello/common/attempts")) as f:
        return len(f.read().split())


@pytest.mark.parametrize("health,tries", [
    # retried at interval until the daemon is ready (1.5 s)
    ({"retries": "5", "interval": "400ms"}, (2, 6)),
    # or run once, after the start period
    ({"start-period": "2500ms", "retries": "0"}, (1, 1)),
])
def test_check_health_waits_for_a_slow_daemon(agent, tmp_path, health, tries):
    work = str(tmp_path)
    install_v1_v2(agent, work)
    v3 = build_package(work, version="3.0", hooks=counting_hook(),
                       files={"bin/server": (SLOW_SERVER, 0o755)}, health=health)
    agent.ferry("install", v3, "--dangerous")
    assert agent.check_invariant(answers=False) == "x3"
    assert tries[0] <= attempts(agent) <= tries[1]
    if tries[0] > 1:
        assert "not ready yet" in open(os.path.join(agent.root, "logs/hello/hooks.log")).read()


def test_check_health_gives_up_after_retries(agent, tmp_path):
    work = str(tmp_path)
    install_v1_v2(agent, work)
    v3 = build_package(work, version="3.0", hooks=counting_hook(until_ready=False),
                       health={"retries": "2", "interval": "200ms"})
    p = agent.ferry("install", v3, "--dangerous", check=1)
    assert ("health: check-health failed 3 times, the last: check-health hook exited with "
            "status 1; last output:\nstill broken") in p.stderr
    assert agent.check_invariant() == "x2"
    assert attempts(agent) == 3


def test_daemon_that_exits_in_the_start_period(agent, tmp_path):
    work = str(tmp_path)
    install_v1_v2(agent, work)
    dying = "#!/bin/sh\nsleep 0.3\necho 'out of memory'\nexit 9\n"
    v3 = build_package(work, version="3.0", hooks=counting_hook(),
                       files={"bin/server": (dying, 0o755)},
                       health={"start-period": "3s"})
    p = agent.ferry("install", v3, "--dangerous", check=1)
    assert ("health: daemon hello.server exited with status 9 within the 3000 ms start period; "
            "last output:\n") in p.stderr
    assert "out of memory" in p.stderr
    assert not os.path.exists(os.path.join(agent.root, "data/hello/common/attempts"))


def test_health_settings_are_checked_when_packing(tmp_path):
    with pytest.raises(AssertionError) as e:
        build_package(str(tmp_path), health={"retries": "1000"})
    assert 'health.retries: expected a number from 0 to 100; got "1000"' in str(e.value)
    with pytest.raises(AssertionError) as e:
        build_package(str(tmp_path), health={"timeout": "1h", "retries": "9"})
    assert ("health: start-period + (retries + 1) x timeout + retries x interval may be at "
            "most 6h; these make 36018s") in str(e.value)
