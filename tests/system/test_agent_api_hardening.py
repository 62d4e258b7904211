"""ferryd's local API against an unprivileged local user: the socket is
0666, so any user can connect. Such a user cannot wedge the API for root
(per-uid connection limits, the listener keeps accepting), cannot read a
package's configuration, and cannot make ferryd allocate ids or create data
directories by reading an app's policy. Each test reproduces an attack that
worked before the fix. Needs root (it switches to the user nobody)."""
import json
import os
import sqlite3
import subprocess
import time

import pytest

from conftest import binary
from device import Agent, build_package

NOBODY = 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")

# device.api_get PATH over the socket, as another user; prints the answer.
RAW_GET = """
import json, sys
sys.path.insert(0, %r)
from device import api_get
print(json.dumps(api_get(sys.argv[1], sys.argv[2])))
""" % os.path.dirname(os.path.abspath(__file__))

# Open N idle connections, wait (up to 5 s) for ferryd to close all but at
# most KEEP, print how many stay open, hold them until stdin closes.
HOLD = r"""
import select, socket, sys, time
path, n, keep = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
socks = []
for _ in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(5)
    try:
        s.connect(path)
    except OSError:
        s.close()
        continue
    socks.append(s)
def still_open():
    out = []
    for s in socks:
        r, _, _ = select.select([s], [], [], 0)
        if r:
            try:
                if s.recv(1) == b"":
                    continue
            except OSError:
                continue
        out.append(s)
    return out
deadline = time.time() + 5
while len(still_open()) > keep and time.time() < deadline:
    time.sleep(0.1)
print("open", len(still_open()), "of", len(socks), flush=True)
sys.stdin.read()
"""


def drop_to(uid):
    def f():
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    return f


def as_user(uid, script, *args, **kw):
    return subprocess.Popen(["/usr/bin/python3", "-c", script, *map(str, args)],
                            preexec_fn=drop_to(uid), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


def raw_get(agent, path, uid=NOBODY):
    p = as_user(uid, RAW_GET, agent.socket, path, env={"PYTHONDONTWRITEBYTECODE": "1"})
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    return tuple(json.loads(out))


def pkg_ids(agent):
    db = sqlite3.connect(os.path.join(agent.root, "state.db"))
    try:
        return dict(db.execute("SELECT name, uid FROM pkg_ids").fetchall())
    finally:
        db.close()


@pytest.fixture
def agent():
    a = Agent()
    os.chmod(a.dir, 0o755)  # like /run: every local user reaches the socket
    try:
        yield a.start()
        assert a.stop() == 0, "ferryd did not exit 0 on SIGTERM:\n" + a.logtext()
    finally:
        a.cleanup()


@pytest.fixture
def work(tmp_path):
    os.chmod(tmp_path, 0o755)
    return str(tmp_path)


def timed_list(agent):
    t0 = time.monotonic()
    p = agent.ferry_raw("list", timeout=20)
    return p, time.monotonic() - t0


def test_idle_connections_of_a_user_do_not_wedge_the_api(agent):
    hold = as_user(NOBODY, HOLD, agent.socket, 72, 8, stdin=subprocess.PIPE)
    try:
        line = hold.stdout.readline()
        # root gets through while the user holds everything it could open
        try:
            p, took = timed_list(agent)
        except subprocess.TimeoutExpired:
            pytest.fail("root's ferry list timed out while a user held idle connections")
        assert p.returncode == 0 and took < 5, (took, p.stderr)
        # the user's connections beyond its limit were closed at once
        n_open = int(line.split()[1])
        assert n_open <= 8, line
        assert "connection limit" in agent.logtext()
    finally:
        hold.stdin.close()
        hold.wait(timeout=30)
    # closed again: the API still answers root, and the user once more
    try:
        p, took = timed_list(agent)
    except subprocess.TimeoutExpired:
        pytest.fail("root's ferry list timed out after the user closed its connections")
    assert p.returncode == 0 and took < 5, (took, p.stderr)
    assert raw_get(agent, "/v1/system")[0] == 200
    # the user's slots were given back: 8 idle connections are accepted again
    hold = as_user(NOBODY, HOLD, agent.socket, 8, 8, stdin=subprocess.PIPE)
    try:
        assert hold.stdout.readline().split()[1:4] == ["8", "of", "8"]
    finally:
        hold.stdin.close()
        hold.wait(timeout=30)


def test_configuration_is_for_root_and_the_package(agent, work):
    agent.ferry("install", build_package(work, server=False, hooks={"configure": "true"}),
                "--dangerous")
    agent.ferry("set", "hello", "token=s3cret")
    assert agent.ferry("get", "hello", "token").stdout == "s3cret\n"
    status, ans = raw_get(agent, "/v1/conf/hello")
    assert status == 403, ans
    assert ans["result"]["kind"] == "permission"
    assert "only root and the package hello may read its configuration" in \
        ans["result"]["message"]
    assert "s3cret" not in json.dumps(ans)
    status, ans = raw_get(agent, "/v1/conf/hello?key=token")
    assert status == 403 and "s3cret" not in json.dumps(ans)
    # the package's own user (the configure hook ran as it) reads it
    uid = pkg_ids(agent)["hello"]
    status, ans = raw_get(agent, "/v1/conf/hello", uid=uid)
    assert status == 200 and ans["result"] == {"token": "s3cret"}, ans
    # ferry get as the user says why
    p = subprocess.run([binary("ferry"), "get", "hello", "token"], env={"FERRY_SOCKET": agent.socket},
                       preexec_fn=drop_to(NOBODY), capture_output=True, text=True, timeout=30)
    assert p.returncode == 1 and "s3cret" not in p.stdout
    assert "may read its configuration" in p.stderr


def test_reading_an_app_allocates_nothing(agent, work):
    agent.ferry("install", build_package(work, server=False), "--dangerous")
    data = os.path.join(agent.root, "data", "hello")
    before = sorted(os.listdir(data)) if os.path.isdir(data) else None
    assert "hello" not in pkg_ids(agent)
    status, ans = raw_get(agent, "/v1/apps/hello.hello")
    assert status == 200, ans
    assert ans["result"]["privileged"] is True
    assert "hello" not in pkg_ids(agent), "a read allocated the package's uid"
    after = sorted(os.listdir(data)) if os.path.isdir(data) else None
    assert after == before, "a read created data directories"
    # root running the app is what allocates and prepares
    p = agent.ferry("run", "hello.hello", "x")
    assert "hello hello" in p.stdout
    assert "hello" in pkg_ids(agent)
    assert os.path.isdir(os.path.join(data, "common"))
