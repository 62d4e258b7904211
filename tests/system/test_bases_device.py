"""Bases on the device: ferryd installs a base like any package, installs
the missing base of an app from the store in the same change (and takes it
back when the app's install fails), refuses an app from a file whose base is
missing, refuses to remove a base that packages run on, runs the apps with
the base as their root (ferry-confine --base), and refreshes a base as one
change with every app on it, rolling back when one of them is not healthy
on the new revision.

A real store, a real ferryd as root in a temporary root, the real debian-12
base (baselib: built once, or reused from FERRY_TEST_BASES). The base's
"new revision" is the same tree packed again with a marker file added
(baselib.repacked), not a second build."""
import os

import pytest

import baselib
from baselib import BaseStore, app_on_base

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="ferryd mounts images as root")


@pytest.fixture(scope="session")
def base_images(tmp_path_factory):
    path = os.path.join(baselib.cache_dir(tmp_path_factory), "debian-12.ferry")
    why = baselib.unavailable(path)
    if why:
        pytest.skip(why)
    image = baselib.image(tmp_path_factory, "debian-12", "bookworm")
    new = baselib.repacked(image)
    return {"old": image, "new": new}


@pytest.fixture
def pub(tmp_path):
    p = BaseStore(tmp_path)
    yield p
    p.stop()


@pytest.fixture
def dev(pub):
    a = pub.device().start()
    yield a
    status = a.stop()
    log = a.logtext()
    a.cleanup()
    assert status == 0, log


def starts(dev, name="osr", timeout=60):
    """What each start of the app's daemon saw: ["old", "new", ...]."""
    import time
    path = os.path.join(dev.root, "data", name, "current", "starts")
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            return open(path).read().split()
        except FileNotFoundError:
            time.sleep(0.1)
    raise AssertionError(f"{name}'s daemon never started:\n{dev.logtext()}")


def wait_starts(dev, n, name="osr", timeout=60):
    import time
    deadline = time.time() + timeout
    while time.time() < deadline:
        s = starts(dev, name)
        if len(s) >= n:
            return s
        time.sleep(0.1)
    raise AssertionError(f"{name}: {starts(dev, name)} after {timeout}s:\n{dev.logtext()}")


def names(dev):
    return {p["name"]: p for p in dev.json("list")}


def test_install_pulls_the_base_and_the_app_runs_on_it(pub, dev, base_images, tmp_path):
    pub.push(base_images["old"], "debian-12", "stable")
    pub.push(app_on_base(str(tmp_path), base_images["old"]), "osr", "stable")
    p = dev.ferry("install", "osr")
    assert p.stdout == "osr 1.0 (revision 1) installed from latest/stable\n"
    pkgs = names(dev)
    assert set(pkgs) == {"osr", "debian-12"}
    assert pkgs["debian-12"]["revision"] == "1"
    assert pkgs["debian-12"]["channel"] == "latest/stable"
    # one change: the base is one of its steps
    change = dev.json("changes")[-1]
    assert change["summary"] == "Install osr revision 1 (latest/stable)"
    steps = {s["kind"]: s for s in dev.json("change", str(change["id"]))["steps"]}
    assert steps["base"]["status"] == "Done"
    assert "Installed the base debian-12 revision 1 (latest/stable)" in str(steps["base"])
    assert os.path.ismount(os.path.join(dev.root, "mnt/debian-12/1"))
    # the daemon runs on the base: its /etc/os-release, not the host's
    assert starts(dev) == ["old"]
    seen = open(os.path.join(dev.root, "data/osr/current/os-release")).read()
    assert 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"' in seen
    assert seen == open(os.path.join(base_images_tree(dev), "etc/os-release")).read()
    host = open("/etc/os-release").read()
    if host != seen:
        assert open(os.path.join(dev.root, "data/osr/current/os-release")).read() != host
    # ferry run too, and what runs it says --base
    out = dev.ferry("run", "osr.show").stdout
    assert out == seen
    argv = dev.api("/v1/apps/osr.show")["argv"]
    assert argv[argv.index("--base") + 1] == os.path.join(dev.root, "mnt/debian-12/1")


def base_images_tree(dev):
    return os.path.join(dev.root, "mnt/debian-12/current")


def test_base_channel_and_a_failed_install_takes_the_base_back(pub, dev, base_images, tmp_path):
    work = str(tmp_path)
    pub.push(base_images["old"], "debian-12", "beta")
    # latest/stable has no debian-12: the app names no channel, nothing installs
    pub.push(app_on_base(work, base_images["old"], name="plain"), "plain", "stable")
    p = dev.ferry("install", "plain", check=1)
    assert "plain revision 1 runs on the base debian-12, which is not installed; it cannot " \
           "be installed from latest/stable" in p.stderr
    assert set(names(dev)) == set()
    # base-channel: beta brings it from latest/beta; the install hook fails:
    # the app and the base go, in the same change
    bad = app_on_base(work, base_images["old"], name="beta-app", hooks={
        "install": "echo no good; exit 3"}, extra_yaml="base-channel: beta")
    pub.push(bad, "beta-app", "stable")
    p = dev.ferry("install", "beta-app", check=1)
    assert "no good" in p.stderr
    assert set(names(dev)) == set()
    assert not os.path.exists(os.path.join(dev.root, "mnt/debian-12"))
    assert not [f for f in os.listdir(os.path.join(dev.root, "images")) if "debian-12" in f]
    change = dev.json("changes")[-1]
    steps = {s["kind"]: s["status"] for s in dev.json("change", str(change["id"]))["steps"]}
    assert steps["base"] == "Undone" and steps["post-refresh"] == "Error"
    # a good one installs with the base of latest/beta
    good = app_on_base(work, base_images["old"], name="beta-app", version="2.0",
                       extra_yaml="base-channel: beta")
    pub.push(good, "beta-app", "stable")
    dev.ferry("install", "beta-app")
    assert names(dev)["debian-12"]["channel"] == "latest/beta"
    assert starts(dev, "beta-app") == ["old"]


def test_local_file_without_its_base_is_refused(pub, dev, base_images, tmp_path):
    image = app_on_base(str(tmp_path), base_images["old"])
    p = dev.ferry("install", image, "--dangerous", check=1)
    assert "osr runs on the base debian-12, which is not installed: install it first " \
           "(ferry install debian-12)" in p.stderr
    assert names(dev) == {}
    # with the base installed by itself (a package like any other) it installs
    pub.push(base_images["old"], "debian-12", "stable")
    p = dev.ferry("install", "debian-12")
    assert p.stdout.startswith("debian-12 ")
    assert dev.json("services") == [] or all(s["name"] != "debian-12"
                                            for s in dev.json("services"))
    dev.ferry("install", image, "--dangerous")
    assert starts(dev) == ["old"]


def test_a_base_in_use_is_not_removed(pub, dev, base_images, tmp_path):
    work = str(tmp_path)
    pub.push(base_images["old"], "debian-12", "stable")
    pub.push(app_on_base(work, base_images["old"]), "osr", "stable")
    pub.push(app_on_base(work, base_images["old"], name="other", server=False), "other",
             "stable")
    dev.ferry("install", "osr")
    dev.ferry("install", "other")
    p = dev.ferry("remove", "debian-12", check=1)
    assert p.stderr == ("ferry: remove: cannot remove the base debian-12: osr and other run on "
                        "it (a revision on the device names it); remove them first\n")
    assert set(names(dev)) == {"osr", "other", "debian-12"}
    assert os.path.ismount(os.path.join(dev.root, "mnt/debian-12/1"))
    dev.ferry("remove", "osr")
    p = dev.ferry("remove", "debian-12", check=1)
    assert "cannot remove the base debian-12: other runs on it" in p.stderr
    dev.ferry("remove", "other")
    dev.ferry("remove", "debian-12")
    assert names(dev) == {}
    assert not os.path.exists(os.path.join(dev.root, "mnt/debian-12"))


def test_base_refresh_restarts_the_apps_on_the_new_revision(pub, dev, base_images, tmp_path):
    work = str(tmp_path)
    pub.push(base_images["old"], "debian-12", "stable")
    pub.push(app_on_base(work, base_images["old"]), "osr", "stable")
    dev.ferry("install", "osr")
    assert starts(dev) == ["old"]
    pub.push(base_images["new"], "debian-12", "stable")
    p = dev.ferry("refresh", "debian-12")
    assert p.stdout.startswith("debian-12 ") and "(revision 2) refreshed" in p.stdout, p.stdout
    assert wait_starts(dev, 2) == ["old", "new"]
    assert names(dev)["debian-12"]["revision"] == "2"
    assert os.readlink(os.path.join(dev.root, "mnt/debian-12/current")) == "2"
    change = dev.json("changes")[-1]
    steps = {s["kind"]: s for s in dev.json("change", str(change["id"]))["steps"]}
    assert "On debian-12: osr" in str(steps["dependents"])
    assert steps["restart-dependents"]["status"] == "Done"
    assert steps["dependents-health"]["status"] == "Done"
    # the old revision is kept (retain 2), side by side
    assert os.path.ismount(os.path.join(dev.root, "mnt/debian-12/1"))
    assert os.path.ismount(os.path.join(dev.root, "mnt/debian-12/2"))


def test_base_refresh_downloads_a_delta(pub, dev, base_images, tmp_path):
    """A base refreshes through the store's delta like any package: the
    device rebuilds the new base image exactly and downloads a fraction."""
    import time
    work = str(tmp_path)
    pub.push(base_images["old"], "debian-12", "stable")
    pub.push(app_on_base(work, base_images["old"]), "osr", "stable")
    dev.ferry("install", "osr")
    assert starts(dev) == ["old"]
    pub.push(base_images["new"], "debian-12", "stable")
    deadline = time.time() + 300
    rows = []
    while time.time() < deadline:
        rows = pub.store.sql("SELECT state, published, size FROM deltas WHERE "
                             "package = 'debian-12' AND from_rev = 1 AND to_rev = 2")
        if rows and (rows[0][0] != "kept" or rows[0][1] == "1"):
            break
        time.sleep(0.5)
    assert rows and rows[0][0] == "kept" and rows[0][1] == "1", \
        f"no delta debian-12 1->2: {rows}\n{pub.store.read_log()}"
    time.sleep(1)  # the publication is done once timestamp names it
    size = int(rows[0][2])
    full = os.path.getsize(base_images["new"])
    p = dev.ferry("refresh", "debian-12")
    assert "(revision 2) refreshed" in p.stdout, p.stdout
    assert wait_starts(dev, 2) == ["old", "new"]
    change = [c for c in dev.json("changes", "--json") if c.get("to") == "2"][-1]
    assert change["download"] == {"path": "delta", "downloaded": size, "full": full,
                                  "saved": full - size}, change
    assert size < full / 10
    got = os.path.join(dev.root, "images/debian-12_2.ferry")
    with open(got, "rb") as a, open(base_images["new"], "rb") as b:
        assert a.read() == b.read()


def test_base_refresh_rolls_back_when_an_app_fails_on_it(pub, dev, base_images, tmp_path):
    work = str(tmp_path)
    pub.push(base_images["old"], "debian-12", "stable")
    pub.push(app_on_base(work, base_images["old"]), "osr", "stable")
    picky = app_on_base(work, base_images["old"], name="picky", hooks={
        "check-health": "if [ -e /etc/ferry-test-marker ]; then\n"
                        "  echo 'picky: this base has a marker I cannot live with'; exit 1\n"
                        "fi"})
    pub.push(picky, "picky", "stable")
    dev.ferry("install", "osr")
    dev.ferry("install", "picky")
    pub.push(base_images["new"], "debian-12", "stable")
    p = dev.ferry("refresh", "debian-12", check=1)
    assert "picky revision 1 is not healthy on debian-12 revision 2" in p.stderr, p.stderr
    assert "this base has a marker I cannot live with" in p.stderr
    # back on revision 1, and both apps restarted on it
    assert names(dev)["debian-12"]["revision"] == "1"
    assert os.readlink(os.path.join(dev.root, "mnt/debian-12/current")) == "1"
    assert not os.path.exists(os.path.join(dev.root, "mnt/debian-12/2"))
    assert wait_starts(dev, 3, "osr") == ["old", "new", "old"]
    assert wait_starts(dev, 3, "picky") == ["old", "new", "old"]
    # the changes name the app and its output
    change = dev.json("changes")[-1]
    assert change["status"] == "Error"
    listing = dev.ferry("changes").stdout
    assert "Refresh debian-12 from revision 1 to 2 (latest/stable): picky is not healthy on " \
           "it" in listing, listing
    one = dev.ferry("change", str(change["id"])).stdout
    assert "picky revision 1 is not healthy on debian-12 revision 2" in one
    assert "this base has a marker I cannot live with" in one
    # the failed base revision is not tried again by a general refresh
    p = dev.ferry("refresh")
    assert "debian-12: revision 2 failed or was reverted here" in p.stderr


# jq and python3 from Debian 13 on the debian-13 base: packed on it, installed
# through ferryd on this machine (whatever its own userland), run by ferry run
# and as a service. test_bases.py shows the same files refused at pack time
# without a base (the glibc symbol version named).
TOOLS = """\
name: tools
version: "1.0"
summary: jq and python3 from Debian 13
base: debian-13
apps:
  jq:
    command: usr/bin/jq
  py:
    command: usr/bin/python3
  srv:
    command: bin/srv
    daemon: simple
parts:
  tools:
    stage-packages: [jq, python3]
    prime: ["-usr/share/doc", "-usr/share/man"]
"""

TOOLS_SRV = """#!/bin/sh
echo '{"a": [1, 2, 3]}' | jq -c '.a | map(. * 2)' > "$FERRY_DATA/jq.out"
python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' > "$FERRY_DATA/py.out"
exec sleep 1000000
"""


@pytest.fixture(scope="session")
def debian13(tmp_path_factory):
    path = os.path.join(baselib.cache_dir(tmp_path_factory), "debian-13.ferry")
    why = baselib.unavailable(path)
    if why:
        pytest.skip(why)
    return baselib.image(tmp_path_factory, "debian-13", "trixie")


def test_debian_13_tools_run_on_their_base(pub, dev, debian13, tmp_path):
    from conftest import run
    from packing import EPOCH, deb_cache, write_tree
    tree = write_tree(tmp_path / "tools", manifest=TOOLS,
                      files={"bin/srv": (TOOLS_SRV, 0o755)})
    image = tmp_path / "tools.ferry"
    run("ferry", "pack", tree, "-o", image, "--deb-cache", deb_cache(), "--base", debian13,
        check=0, env={"SOURCE_DATE_EPOCH": EPOCH}, timeout=900)
    pub.push(debian13, "debian-13", "stable")
    pub.push(str(image), "tools", "stable")
    p = dev.ferry("install", "tools")
    assert p.stdout == "tools 1.0 (revision 1) installed from latest/stable\n"
    assert names(dev)["debian-13"]["revision"] == "1"
    # ferry run: the programs of Debian 13 with their arguments
    assert dev.ferry("run", "tools.jq", "-n", "[1, 2] | add").stdout == "3\n"
    out = dev.ferry("run", "tools.py", "-c",
                    "import sys; print('%d.%d' % sys.version_info[:2])").stdout
    assert out == "3.13\n"
    # as a service, finding jq and python3 on the PATH ferryd sets
    data = os.path.join(dev.root, "data", "tools", "current")
    import time
    deadline = time.time() + 60
    while time.time() < deadline and not os.path.exists(os.path.join(data, "py.out")):
        time.sleep(0.2)
    assert open(os.path.join(data, "jq.out")).read() == "[2,4,6]\n", dev.logtext()
    assert open(os.path.join(data, "py.out")).read() == "3.13\n", dev.logtext()
