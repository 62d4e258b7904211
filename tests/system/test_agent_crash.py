"""Power loss: ferryd is killed with SIGKILL at every step of install,
refresh, rollback, revert and remove (fault points, FERRY_FAULT=STEP with
FERRY_FAULT_ACTION=kill), at every step of an install from a store that
brings the app's base with it, then at random moments during a loop of
refreshes.
After each kill a new ferryd starts on the same root; the test asserts the
invariant (the package runs its old or its new revision, never neither,
never a mix of one's code with the other's data) and that the app answers.
As root (CI) the images are loop-mounted."""
import os
import random
import subprocess
import time

import pytest

import baselib
from conftest import binary
from device import Agent, build_package

INSTALL_STEPS = ["prepare-file", "mount", "pre-refresh", "stop-services", "copy-data", "switch",
                 "post-refresh", "start-services", "health", "commit"]
FORWARD = {"commit", "commit-done", "forget", "forget-done", "discard", "discard-done",
           "commit-revert", "commit-revert-done"}


@pytest.fixture
def work(tmp_path):
    return str(tmp_path)


@pytest.fixture
def agent():
    a = Agent()
    yield a
    status = a.stop()
    log = a.logtext()
    a.cleanup()
    assert status in (0, None), f"ferryd exited with {status} on SIGTERM:\n{log}"


def crash(agent, point, *args):
    """Run `ferry ARGS` against a ferryd that kills itself at point; then
    start a fresh ferryd on the same root."""
    agent.stop()
    agent.start(env={"FERRY_FAULT": point, "FERRY_FAULT_ACTION": "kill"})
    p = agent.ferry(*args, check=None)
    assert p.returncode == 1, p.stdout + p.stderr
    assert agent.wait_exit() == -9, "ferryd should have been killed at " + point
    agent.start()
    last = agent.json("changes")[-1]["id"]
    assert f"change {last} was interrupted" in agent.logtext()


@pytest.mark.parametrize("point", INSTALL_STEPS + ["switch-links"])
def test_kill_during_first_install(agent, work, point):
    v1 = build_package(work, version="1.0", hooks={"install": 'touch "$FERRY_DATA/mark-installed"'})
    agent.start()
    crash(agent, point, "install", v1, "--dangerous")
    rev = agent.check_invariant()
    assert rev == ("x1" if point in FORWARD else None)
    if rev:
        assert agent.ask()[3] == ["mark-installed"]
    else:
        assert agent.json("changes")[-1]["status"] == "Error"
        assert "interrupted" in agent.json("changes")[-1]["err"]
    # and the device works afterwards
    agent.ferry("install", v1, "--dangerous")
    assert agent.check_invariant() is not None


@pytest.mark.parametrize("point", [p + s for p in INSTALL_STEPS for s in ("", "-done")] +
                         ["switch-links", "health-check"])
def test_kill_during_refresh(agent, work, point):
    refresh_crash(agent, work, point)


@pytest.mark.parametrize("point", ["mount", "mount-done", "copy-data", "switch-links", "commit"])
def test_kill_during_refresh_extracted(work, point):
    a = Agent(config={"images": "extract"})
    try:
        refresh_crash(a, work, point)
        mnt = os.path.join(a.root, "mnt/hello")
        assert [f for f in os.listdir(mnt) if ".part" in f] == []
        assert not any(os.path.ismount(os.path.join(mnt, f)) for f in os.listdir(mnt))
    finally:
        assert a.stop() == 0
        a.cleanup()


def refresh_crash(agent, work, point):
    agent.start()
    agent.ferry("install", build_package(work, version="1.0"), "--dangerous")
    agent.ferry("install", build_package(work, version="2.0"), "--dangerous")
    v3 = build_package(work, version="3.0", hooks={"post-refresh": 'touch "$FERRY_DATA/mark-3"'})
    crash(agent, point, "install", v3, "--dangerous")
    rev = agent.check_invariant()
    if point in FORWARD:
        assert rev == "x3"
        assert agent.ask()[3] == ["mark-3"]
    else:
        assert rev == "x2"
        assert agent.ask()[3] == [], "the old revision's data must be as it was"
        assert not os.path.exists(os.path.join(agent.root, "data/hello/x3"))
        assert not os.path.exists(os.path.join(agent.root, "images/hello_x3.ferry"))
    # refreshing again works
    agent.ferry("install", v3, "--dangerous")
    assert agent.check_invariant() not in (None, "x2")


@pytest.mark.parametrize("step", [s for s in INSTALL_STEPS if s != "commit"])
def test_kill_during_rollback(agent, work, step):
    agent.start()
    agent.ferry("install", build_package(work, version="1.0"), "--dangerous")
    agent.ferry("install", build_package(work, version="2.0"), "--dangerous")
    bad = build_package(work, version="3.0", hooks={
        "post-refresh": 'touch "$FERRY_DATA/mark-3"', "check-health": "exit 1"})
    crash(agent, "undo-" + step, "install", bad, "--dangerous")
    assert agent.check_invariant() == "x2"
    assert agent.ask()[3] == []
    assert not os.path.exists(os.path.join(agent.root, "mnt/hello/x3"))
    info = agent.json("info", "hello")
    assert "x3" in [b["revision"] for b in info["blocked"]]


@pytest.mark.parametrize("point", ["stop-services", "remove-hook", "unmount", "unmount-done",
                                   "forget", "forget-done", "discard", "discard-done"])
def test_kill_during_remove(agent, work, point):
    agent.start()
    agent.ferry("install", build_package(work, version="1.0"), "--dangerous")
    crash(agent, point, "remove", "hello")
    rev = agent.check_invariant()
    assert rev == (None if point in FORWARD else "x1")
    if rev is None:
        assert not os.path.exists(os.path.join(agent.root, "mnt/hello"))


@pytest.mark.parametrize("point", ["stop-services", "switch", "switch-links", "start-services",
                                   "health", "commit-revert"])
def test_kill_during_revert(agent, work, point):
    agent.start()
    agent.ferry("install", build_package(work, version="1.0"), "--dangerous")
    agent.ferry("install", build_package(work, version="2.0"), "--dangerous")
    crash(agent, point, "revert", "hello")
    assert agent.check_invariant() == ("x1" if point in FORWARD else "x2")


def test_random_kills_during_refreshes(agent, work):
    random_kills(agent, work)


def test_random_kills_during_refreshes_extracted(work):
    a = Agent(config={"images": "extract"})
    try:
        random_kills(a, work)
        leftovers = [f for f in os.listdir(os.path.join(a.root, "mnt/hello")) if ".part" in f]
        assert leftovers == []
    finally:
        assert a.stop() == 0
        a.cleanup()


def random_kills(agent, work):
    seed = int(os.environ.get("FERRY_CRASH_SEED", time.time()))
    rnd = random.Random(seed)
    print("seed", seed)
    images = [build_package(work, version=f"{v}.0", hooks={
        "post-refresh": f'touch "$FERRY_DATA/mark-{v}"'}) for v in (1, 2, 3)]
    agent.start()
    agent.ferry("install", images[0], "--dangerous")
    last = 1
    env = dict(os.environ, FERRY_SOCKET=agent.socket)
    for i in range(8):
        image = images[(i + 1) % 3]
        p = subprocess.Popen([binary("ferry"), "install", image, "--dangerous"], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(rnd.uniform(0.0, 1.2))
        agent.kill()
        p.communicate(timeout=60)
        agent.start()
        rev = agent.check_invariant()
        assert rev is not None, f"seed {seed}: the package is gone after kill {i}"
        n = int(rev[1:])
        assert n >= last, f"seed {seed}: kill {i}: revision {rev} after x{last}"
        last = n
        _, _, data, markers = agent.ask()
        assert all(m.startswith("mark-") for m in markers)


# --- an install from the store that pulls the app's base -------------------

BASE_INSTALL_POINTS = (["resolve", "download", "base", "base-fetched", "base-mounted",
                        "base-done"] +
                       [s for s in INSTALL_STEPS if s != "prepare-file"] +
                       ["dependents", "restart-dependents", "dependents-health", "commit-done"])


@pytest.fixture(scope="module")
def base_store(tmp_path_factory):
    """A store with the debian-12 base and an app on it, both in stable."""
    path = os.path.join(baselib.cache_dir(tmp_path_factory), "debian-12.ferry")
    why = baselib.unavailable(path)
    if why:
        pytest.skip(why)
    image = baselib.image(tmp_path_factory, "debian-12", "bookworm")
    work = str(tmp_path_factory.mktemp("basestore"))
    pub = baselib.BaseStore(work)
    pub.push(image, "debian-12", "stable", halt=False)
    pub.push(baselib.app_on_base(work, image, hooks={
        "install": 'touch "$FERRY_DATA/mark-installed"'}), "osr", "stable", halt=False)
    yield pub
    pub.stop()


@pytest.mark.parametrize("point", BASE_INSTALL_POINTS)
def test_kill_during_install_that_pulls_a_base(base_store, point):
    """Killed at any step, the app and its base are both installed (past the
    commit) or both gone, and installing again works."""
    a = base_store.device()
    try:
        a.start()
        crash(a, point, "install", "osr")
        pkgs = {p["name"]: p for p in a.json("list")}
        mnt = os.path.join(a.root, "mnt", "debian-12")
        images = os.listdir(os.path.join(a.root, "images"))
        if point in FORWARD:
            assert set(pkgs) == {"osr", "debian-12"}, pkgs
            assert os.path.ismount(os.path.join(mnt, "1"))
            assert os.path.isfile(os.path.join(a.root, "data/osr/1/mark-installed"))
            # the base revision is kept: a restart mounts it again
            a.stop()
            subprocess.run(["umount", "-l", os.path.join(mnt, "1")], check=True)
            a.start()
            assert os.path.ismount(os.path.join(mnt, "1"))
        else:
            assert pkgs == {}, pkgs
            assert not os.path.exists(mnt), os.listdir(mnt)
            assert [f for f in images if f.startswith("debian-12_")] == []
            assert a.json("changes")[-1]["status"] == "Error"
            a.ferry("install", "osr")
            assert set(x["name"] for x in a.json("list")) == {"osr", "debian-12"}
        starts = os.path.join(a.root, "data/osr/current/starts")
        deadline = time.time() + 60
        while not os.path.exists(starts) and time.time() < deadline:
            time.sleep(0.1)
        assert open(starts).read().split()[-1] == "old"
    finally:
        assert a.stop() in (0, None)
        a.cleanup()


# --- a base refresh: the base and every app on it, one change ---------------

BASE_REFRESH_POINTS = ["mount", "stop-services", "copy-data", "dependents", "dependents-done",
                       "switch", "switch-links", "post-refresh", "start-services",
                       "restart-dependents", "restart-dependents-saved",
                       "restart-dependents-done", "health", "dependents-health", "commit",
                       "commit-done"]


@pytest.fixture(scope="module")
def base_refresh_store(tmp_path_factory):
    """debian-12 revision 1 in stable, revision 2 (the same tree with a
    marker, baselib.repacked) in beta, and an app on it."""
    path = os.path.join(baselib.cache_dir(tmp_path_factory), "debian-12.ferry")
    why = baselib.unavailable(path)
    if why:
        pytest.skip(why)
    image = baselib.image(tmp_path_factory, "debian-12", "bookworm")
    work = str(tmp_path_factory.mktemp("baserefresh"))
    pub = baselib.BaseStore(work)
    pub.push(image, "debian-12", "stable", halt=False)
    pub.push(baselib.repacked(image), "debian-12", "beta", halt=False)
    pub.push(baselib.app_on_base(work, image), "osr", "stable", halt=False)
    yield pub
    pub.stop()


def last_start(a, want=None, timeout=60):
    """The base the app's daemon saw at its last start (old or new), once it
    is want (the daemon may be starting still); else what it is at the end."""
    path = os.path.join(a.root, "data/osr/current/starts")
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        if os.path.exists(path):
            last = (open(path).read().split() or [None])[-1]
            if want is None or last == want:
                return last
        time.sleep(0.1)
    assert last is not None, "osr's daemon did not start:\n" + a.logtext()
    return last


@pytest.mark.parametrize("point", BASE_REFRESH_POINTS)
def test_kill_during_base_refresh(base_refresh_store, point):
    """Killed at any step of a base refresh, the base runs its old revision
    and the app starts on it, or (past the commit) both are on the new one."""
    a = base_refresh_store.device()
    try:
        a.start()
        a.ferry("install", "osr")
        assert last_start(a) == "old"
        crash(a, point, "refresh", "debian-12", "--channel", "beta")
        pkgs = {p["name"]: p for p in a.json("list")}
        mnt = os.path.join(a.root, "mnt", "debian-12")
        want = "2" if point in FORWARD else "1"
        assert pkgs["debian-12"]["revision"] == want
        assert os.readlink(os.path.join(mnt, "current")) == want
        assert os.path.ismount(os.path.join(mnt, want))
        if want == "1":
            assert not os.path.exists(os.path.join(mnt, "2"))
        # the daemon runs on that revision: its start after the kill saw it
        assert last_start(a, want="new" if want == "2" else "old") == \
            ("new" if want == "2" else "old"), a.logtext()
    finally:
        assert a.stop() in (0, None)
        a.cleanup()
