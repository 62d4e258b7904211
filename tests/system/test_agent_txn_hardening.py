"""ferryd's changes under failure and against a publisher: a remove that
fails leaves the package all there or all gone, and so does a kill at any
step of `ferry remove --purge` (nothing irreversible runs before its point of
no return); a hook's output is bounded by the log limit; a device whose
store's metadata expired says since when updates cannot be verified; a
devmode revision needs the device's consent."""
import glob
import json
import os
import subprocess

import pytest

from device import Agent, build_package
from test_agent_crash import agent, work  # noqa: F401 (fixtures)


@pytest.fixture
def pub_dev(tmp_path):
    """A store that publishes `hello` and a device provisioned against it."""
    from test_agent_store import Publisher, device
    pub = Publisher(tmp_path)
    dev = device(pub).start()
    yield pub, dev
    status = dev.stop()
    log = dev.logtext()
    dev.cleanup()
    pub.stop()
    assert status == 0, log


def install_with_data(agent, work):
    agent.ferry("install", build_package(work, version="1.0"), "--dangerous")
    with open(os.path.join(agent.root, "data/hello/common/keep"), "w") as f:
        f.write("precious\n")
    with open(os.path.join(agent.root, "data/hello/x1/mark-data"), "w") as f:
        f.write("mine\n")


def assert_all_there(agent):
    assert agent.check_invariant() == "x1"
    assert os.path.isfile(os.path.join(agent.root, "images/hello_x1.ferry"))
    with open(os.path.join(agent.root, "data/hello/common/keep")) as f:
        assert f.read() == "precious\n"
    assert agent.ask()[3] == ["mark-data"]


def assert_all_gone(agent):
    assert agent.check_invariant() is None
    assert not os.path.exists(os.path.join(agent.root, "mnt/hello"))
    assert not os.path.exists(os.path.join(agent.root, "data/hello"))
    assert not os.path.exists(os.path.join(agent.root, "images/hello_x1.ferry"))


# forget: the step that forgets the package's rows, where the old discard
# step had already deleted the image and the data; forget-rows: inside its
# transaction, after the rows are deleted.
@pytest.mark.parametrize("point", ["unmount", "forget", "forget-rows"])
def test_failed_purge_keeps_the_package(agent, work, point):
    agent.start()
    install_with_data(agent, work)
    agent.stop()
    agent.start(env={"FERRY_FAULT": point})
    p = agent.ferry("remove", "hello", "--purge", check=1)
    assert f"fault point {point}" in p.stderr
    change = agent.json("changes")[-1]
    assert change["status"] == "Error"
    assert_all_there(agent)
    # and after a restart without the fault, the remove goes through
    agent.stop()
    agent.start()
    assert_all_there(agent)
    agent.ferry("remove", "hello", "--purge")
    assert_all_gone(agent)


def test_purge_that_cannot_delete_everything_is_consistent(agent, work):
    """A deletion of remove --purge fails (a mount point in the app's data):
    the package is gone as a whole, never listed with its image deleted."""
    agent.start()
    install_with_data(agent, work)
    busy = os.path.join(agent.root, "data/hello/common/busy")
    os.mkdir(busy)
    subprocess.run(["mount", "-t", "tmpfs", "none", busy], check=True)
    try:
        p = agent.ferry("remove", "hello", "--purge", check=None)
        assert agent.installed() is None, (p.stderr, agent.json("list"))
        assert agent.check_invariant() is None
        assert not os.path.exists(os.path.join(agent.root, "images/hello_x1.ferry"))
    finally:
        subprocess.run(["umount", busy], check=True)
    # installing again works, and a purge then removes everything
    agent.ferry("install", build_package(work, version="1.0"), "--dangerous")
    assert agent.check_invariant() is not None
    agent.ferry("remove", "hello", "--purge")
    assert not os.path.exists(os.path.join(agent.root, "data/hello"))


REMOVE_STEPS = ["stop-services", "remove-hook", "unmount", "forget", "discard"]
GONE = {"forget", "forget-rows", "forget-done", "discard", "discard-done"}


@pytest.mark.parametrize("point", [p + s for p in REMOVE_STEPS for s in ("", "-done")] +
                         ["forget-rows"])
def test_kill_during_purge(agent, work, point):
    agent.start()
    install_with_data(agent, work)
    agent.stop()
    agent.start(env={"FERRY_FAULT": point, "FERRY_FAULT_ACTION": "kill"})
    p = agent.ferry("remove", "hello", "--purge", check=None)
    assert p.returncode == 1, p.stdout + p.stderr
    assert agent.wait_exit() == -9, "ferryd should have been killed at " + point
    agent.start()
    last = agent.json("changes")[-1]["id"]
    assert f"change {last} was interrupted" in agent.logtext()
    if point in GONE:
        assert_all_gone(agent)
    else:
        assert_all_there(agent)


def test_hook_output_is_bounded(work):
    """A hook that writes 20 MiB: hooks.log and hooks.log.1 stay within the
    log limit, and the failed change still quotes the hook's last lines."""
    limit = 65536
    a = Agent(config={"log-max-size": str(limit)}).start()
    try:
        hook = """
            yes 'a line of hook output that goes on' | head -c 20971520
            echo "the last words of the hook"
            exit 3
            """
        image = build_package(work, hooks={"install": hook})
        p = a.ferry("install", image, "--dangerous", check=1)
        assert "install hook exited with status 3" in p.stderr, p.stderr
        assert "the last words of the hook" in p.stderr, p.stderr
        logs = os.path.join(a.root, "logs/hello")
        total = sum(os.path.getsize(os.path.join(logs, f)) for f in os.listdir(logs)
                    if f.startswith("hooks.log"))
        assert total <= 2 * limit + 16384, sorted(os.listdir(logs))
        with open(os.path.join(logs, "hooks.log")) as f:
            assert f.read().endswith("the last words of the hook\n")
        assert a.check_invariant(answers=False) is None
    finally:
        assert a.stop() == 0
        a.cleanup()


def test_devmode_needs_the_devices_consent(pub_dev, work):
    """A publisher cannot switch a package to devmode by a refresh: a
    devmode revision is refused until the device says --devmode."""
    pub, dev = pub_dev
    pub.push(build_package(work, version="1.0"), "stable")
    dev.ferry("install", "hello")
    assert dev.check_invariant() == "1"
    pub.push(build_package(work, version="2.0", extra_yaml="confinement: devmode"), "stable")
    p = dev.ferry("refresh", "hello", check=1)
    assert ("hello revision 2 asks for devmode confinement" in p.stderr and
            "this device has not allowed devmode for hello" in p.stderr and
            "--devmode" in p.stderr), p.stderr
    assert dev.check_invariant() == "1"
    # an automatic-style general refresh is refused as well
    dev.ferry("refresh", check=None)
    assert dev.check_invariant() == "1"
    p = dev.ferry("refresh", "--devmode", "hello")
    assert p.stdout.startswith("hello 2.0 (revision 2) refreshed"), p.stdout + p.stderr
    assert dev.check_invariant() == "2"
    # the consent stays for the next refreshes of the package...
    pub.push(build_package(work, version="3.0", extra_yaml="confinement: devmode"), "stable")
    dev.ferry("refresh", "hello")
    assert dev.check_invariant() == "3"
    # ...until it is removed
    dev.ferry("remove", "hello")
    p = dev.ferry("install", "hello", check=1)
    assert "this device has not allowed devmode for hello" in p.stderr, p.stderr
    dev.ferry("install", "--devmode", "hello")
    assert dev.check_invariant() == "3"


FAKETIME_LIB = next(iter(glob.glob("/usr/lib/*/faketime/libfaketime.so.1")), None)


@pytest.mark.skipif(not FAKETIME_LIB, reason="faketime is not installed (scripts/install-deps)")
def test_expired_metadata_is_said_plainly(pub_dev, work):
    """The store stops renewing its timestamp (here: ferryd two days ahead,
    past the timestamp's one-day expiry): refreshes fail, and `ferry list`,
    `ferry list --json` and `ferry changes` say since when updates cannot
    be verified; once metadata verifies again, the next outcome report says
    how long it lasted."""
    from test_agent_store import wait_for
    pub, dev = pub_dev
    pub.push(build_package(work, version="1.0"), "stable")
    dev.ferry("install", "hello")
    with open(os.path.join(dev.root, "tuf/timestamp.json")) as f:
        expires = json.load(f)["signed"]["expires"]
    dev.stop()
    dev.start(env={"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": "+2d",
                   "DONT_FAKE_MONOTONIC": "1",
                   "ASAN_OPTIONS": "verify_asan_link_order=0:detect_leaks=0"})
    p = dev.ferry("refresh", check=1)
    said = f"updates cannot be verified since {expires}"
    assert said in p.stderr, p.stderr
    p = dev.ferry("list")
    assert "unverified" in p.stdout
    assert f"Warning: {said}" in p.stderr, p.stderr
    assert dev.json("list")[0]["updates-unverified-since"] == expires
    assert said in dev.json("changes")[-1]["err"]
    assert said in dev.ferry("changes").stdout + dev.ferry("changes").stderr
    # the store renews its metadata (the clock is right again)
    dev.stop()
    dev.start()
    pub.push(build_package(work, version="2.0"), "stable")
    dev.ferry("refresh", "hello")
    assert dev.check_invariant() == "2"
    p = dev.ferry("list")
    assert "Warning" not in p.stderr and "unverified" not in p.stdout
    assert "updates-unverified-since" not in dev.json("list")[0]
    reports = wait_for("the report", lambda: [
        r for r in json.loads(pub.ferry("reports", "hello", "--json"))
        if r.get("to-revision") in (2, "2")])
    assert reports[0]["message"].startswith(
        f"updates could not be verified from {expires} (the store's signed metadata had "
        "expired) until "), reports
