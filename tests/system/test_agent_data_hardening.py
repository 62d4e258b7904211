"""What an app can put in its own data directory cannot hurt the device when
ferryd copies that data at a refresh or hands it to the package: a tree
deeper than the copy's limit fails the refresh cleanly (ferryd stays up,
the old revision runs with its data); set-id files lose their bits and no
other local user can reach a package's data at all; sparse files stay
sparse; FIFOs keep their owner and mode; a copy that would not fit fails
before it fills the disk.

Each test writes into the package's data as the package's own uid, as its
app could (the app itself would do the same from inside its sandbox)."""
import os
import stat
import subprocess
import traceback

import pytest

from device import Agent, build_package
from test_agent import work  # noqa: F401 (the fixture: a work directory; agent is conftest's)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="package uids and loop mounts need root")

DEPTH_MAX = 256


def package_ids(agent):
    st = os.stat(os.path.join(agent.root, "data/hello/common"))
    assert st.st_uid != 0
    return st.st_uid, st.st_gid


def as_package(agent, rel, fn):
    """Run fn in a child process as the package's uid and gid, in the
    directory ROOT/rel (opened by root: the test's root is not traversable by
    others)."""
    uid, gid = package_ids(agent)
    fd = os.open(os.path.join(agent.root, rel), os.O_RDONLY | os.O_DIRECTORY)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            os.fchdir(fd)
            fn()
            code = 0
        except BaseException:
            traceback.print_exc()
        os._exit(code)
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def install_v1(agent, work):
    agent.ferry("install", build_package(work, version="1.0"), "--dangerous")
    assert agent.check_invariant() == "x1"


def refresh(agent, work, version="2.0", check=0):
    return agent.ferry("install", build_package(work, version=version), "--dangerous",
                       check=check)


def alive(agent):
    assert agent.proc.poll() is None, f"ferryd died:\n{agent.logtext()}"
    assert [p["name"] for p in agent.json("list")] == ["hello"]


def plant_deep(agent, levels):
    """levels nested directories "d" in the data of x1, a file at the bottom:
    made with relative mkdir and chdir, as an app would, so that no full
    path has to fit PATH_MAX."""
    def deep():
        for _ in range(levels):
            os.mkdir("d")
            os.chdir("d")
        with open("bottom", "w") as f:
            f.write("deep\n")
    as_package(agent, "data/hello/x1", deep)


def depth_of(path):
    """How many nested "d" directories are under path, with the file at the
    bottom (relative opens: the full path does not have to fit)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    n = 0
    try:
        while True:
            try:
                sub = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            except FileNotFoundError:
                break
            os.close(fd)
            fd = sub
            n += 1
        with open(os.open("bottom", os.O_RDONLY, dir_fd=fd)) as f:
            assert f.read() == "deep\n"
    finally:
        os.close(fd)
    return n


@pytest.mark.parametrize("levels", [300, 1000])
def test_deep_tree_in_data_fails_the_refresh_and_ferryd_stays_up(agent, work, levels):
    install_v1(agent, work)
    x1 = os.path.join(agent.root, "data/hello/x1")
    try:
        plant_deep(agent, levels)
        for attempt in range(2):  # and again: it does not crash at the next one either
            p = refresh(agent, work, version=f"2.{attempt}", check=1)
            alive(agent)
            assert "was rolled back: copy-data: " in p.stderr, p.stderr
            assert f"more than {DEPTH_MAX} levels of directories" in p.stderr, p.stderr
            assert "data/hello/x1/d/d/d" in p.stderr
            assert agent.check_invariant() == "x1"
            assert not [f for f in os.listdir(os.path.join(agent.root, "data/hello"))
                        if f.startswith("x") and f != "x1"]
            change = agent.json("changes")[-1]
            assert change["status"] == "Error"
            text = agent.ferry("change", str(change["id"])).stdout
            assert f"more than {DEPTH_MAX} levels" in text
        assert depth_of(x1) == levels
        # a tree deeper than the copy's limit is still removed, to any depth
        agent.ferry("remove", "hello", "--purge")
        assert not os.path.exists(os.path.join(agent.root, "data/hello"))
        alive_list = agent.json("list")
        assert alive_list == []
    finally:
        subprocess.run(["rm", "-rf", x1])


def test_tree_at_the_limit_is_copied(agent, work):
    install_v1(agent, work)
    plant_deep(agent, DEPTH_MAX)
    refresh(agent, work)
    assert agent.check_invariant() == "x2"
    x2 = os.path.join(agent.root, "data/hello/x2")
    assert depth_of(x2) == DEPTH_MAX
    uid, gid = package_ids(agent)
    st = os.stat(os.path.join(x2, *["d"] * 100))
    assert (st.st_uid, st.st_gid) == (uid, gid)


def cannot_reach(user, path, cmd="stat"):
    """Is an unprivileged local user denied path (stat, or ls of a
    directory)?"""
    r = subprocess.run(["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups",
                        cmd, path], capture_output=True, text=True)
    assert "setpriv" not in r.stderr, r.stderr
    return r.returncode != 0 and "Permission denied" in r.stderr


def test_setid_files_lose_their_bits_and_data_is_closed_to_others(agent, work):
    os.chmod(agent.dir, 0o755)  # so that only ferryd's own modes stand in the way
    install_v1(agent, work)
    uid, gid = package_ids(agent)
    true = open("/bin/true", "rb").read()

    def plant():
        for rel in ("suid", "../common/suid"):
            with open(rel, "wb") as f:
                f.write(true)
            os.chmod(rel, 0o6755)
        assert os.stat("suid").st_mode & 0o6000 == 0o6000
    as_package(agent, "data/hello/x1", plant)
    refresh(agent, work)
    assert agent.check_invariant() == "x2"
    data = os.path.join(agent.root, "data")
    copy = os.path.join(data, "hello/x2/suid")
    st = os.stat(copy)
    assert st.st_mode & 0o6000 == 0, oct(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o755 and (st.st_uid, st.st_gid) == (uid, gid)
    assert open(copy, "rb").read() == true
    # data/NAME: root's, the package's group, 0710; data/ itself traversable
    top = os.stat(os.path.join(data, "hello"))
    assert (stat.S_IMODE(top.st_mode), top.st_uid, top.st_gid) == (0o710, 0, gid)
    assert stat.S_IMODE(os.stat(data).st_mode) & 0o055 == 0o055
    nobody = 65534
    assert not cannot_reach(nobody, data)
    for rel in ("hello/common", "hello/common/suid", "hello/x1/suid", "hello/x2/suid"):
        assert cannot_reach(nobody, os.path.join(data, rel)), rel
    assert cannot_reach(nobody, os.path.join(data, "hello"), cmd="ls")

    # the hand-over of data to the package (data that root left behind, a
    # restored backup) clears set-id bits too
    common = os.path.join(data, "hello/common")
    planted = os.path.join(common, "root-suid")
    with open(planted, "wb") as f:
        f.write(true)
    os.chmod(planted, 0o4755)
    os.chown(common, 0, 0)
    agent.ferry("restart", "hello.server")
    agent.ask()
    st = os.stat(planted)
    assert (st.st_uid, st.st_gid) == (uid, gid)
    assert st.st_mode & 0o6000 == 0, oct(st.st_mode)
    assert os.stat(common).st_uid == uid


def test_fifo_keeps_its_owner_and_mode(agent, work):
    install_v1(agent, work)
    uid, gid = package_ids(agent)

    def plant():
        os.mkfifo("fifo", 0o600)
        os.chmod("fifo", 0o640)
        os.mkdir("sub")
        os.mkfifo("sub/fifo2", 0o600)
    as_package(agent, "data/hello/x1", plant)
    refresh(agent, work)
    assert agent.check_invariant() == "x2"
    for rel in ("fifo", "sub/fifo2"):
        st = os.lstat(os.path.join(agent.root, "data/hello/x2", rel))
        assert stat.S_ISFIFO(st.st_mode)
        assert (st.st_uid, st.st_gid) == (uid, gid), rel
        want = 0o640 if rel == "fifo" else 0o600
        assert stat.S_IMODE(st.st_mode) == want, (rel, oct(st.st_mode))


SPARSE_SIZE = 2 << 30
SAMPLES = [0, 1 << 20, 700 << 20, (1 << 30) + 12345, SPARSE_SIZE - (4 << 20)]


def test_sparse_file_stays_sparse(agent, work):
    install_v1(agent, work)

    def plant():
        with open("sparse", "wb") as f:
            for off in SAMPLES:
                f.seek(off)
                f.write(os.urandom(1 << 20)[: min(1 << 20, SPARSE_SIZE - off)])
            f.truncate(SPARSE_SIZE)
    as_package(agent, "data/hello/x1", plant)
    src = os.path.join(agent.root, "data/hello/x1/sparse")
    assert os.stat(src).st_blocks * 512 < (64 << 20)
    refresh(agent, work)
    assert agent.check_invariant() == "x2"
    dst = os.path.join(agent.root, "data/hello/x2/sparse")
    st = os.stat(dst)
    assert st.st_size == SPARSE_SIZE
    assert st.st_blocks * 512 < (64 << 20), f"{st.st_blocks * 512} bytes allocated"
    with open(src, "rb") as a, open(dst, "rb") as b:
        for off in SAMPLES + [5 << 20, 1500 << 20, SPARSE_SIZE - 1]:
            a.seek(off)
            b.seek(off)
            assert a.read(1 << 20) == b.read(1 << 20), off


def test_copy_that_would_not_fit_fails_before_it_fills_the_disk(work):
    a = Agent()
    data = os.path.join(a.root, "data")
    os.makedirs(data)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48m,mode=0755", "tmpfs", data],
                   check=True)
    try:
        a.start()
        install_v1(a, work)

        def plant():
            with open("big", "wb") as f:
                f.write(os.urandom(30 << 20))
        as_package(a, "data/hello/x1", plant)
        p = refresh(a, work, check=1)
        alive(a)
        assert "was rolled back: copy-data: " in p.stderr, p.stderr
        assert "data/hello/x1/big: its copy needs" in p.stderr, p.stderr
        assert "bytes are free" in p.stderr
        assert a.check_invariant() == "x1"
        assert os.path.getsize(os.path.join(data, "hello/x1/big")) == 30 << 20
        assert not os.path.exists(os.path.join(data, "hello/x2"))
        assert a.stop() == 0
    finally:
        a.cleanup()
