"""ferry try DIR: an unpacked package directory runs on the device as it is,
bound read-only, so that an edit shows at the next restart without packing;
`ferry list` marks it; it is refused when ferry pack would refuse it;
confinement applies; removing it, or installing a real revision over it,
leaves the directory as it was."""
import os
import shutil
import subprocess

import pytest

from device import Agent, build_package, mounts_under, sh, write

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="a root ferryd binds the directory")



@pytest.fixture
def work(tmp_path):
    os.chmod(tmp_path, 0o755)
    return str(tmp_path)


def tree_of(work, **kw):
    """A package tree (and its image, for installing over it)."""
    image = build_package(work, **kw)
    return os.path.join(work, f"{kw.get('name', 'hello')}-{kw.get('version', '1.0')}"), image


def listing(agent):
    return [line.split() for line in agent.ferry("list").stdout.splitlines()]


def test_try_edit_restart(agent, work):
    tree, _ = tree_of(work, apps="write:\n  command: bin/write\n",
                      files={"bin/write": (sh('if echo x > "$FERRY/new"; then echo writable; '
                                              'else echo read-only; fi'), 0o755)})
    p = agent.ferry("try", tree)
    assert p.stdout == "hello 1.0 (revision x1) tried\n"
    assert listing(agent)[1] == ["hello", "1.0", "x1", "latest/stable", "try"]
    assert agent.installed()["tried"] == tree
    assert f"tried:     {tree}\n" in agent.ferry("info", "hello").stdout
    assert agent.check_invariant() == "x1"
    assert agent.ferry("run", "hello.hello").stdout.startswith("hello hello x1 ")

    # edit, restart: no pack, no push
    write(tree, "VERSION", "1.0-edited\n")
    write(tree, "bin/hello", sh('echo "edited $FERRY_NAME"'), 0o755)
    agent.ferry("restart", "hello")
    assert agent.ask()[0] == "1.0-edited"
    assert agent.ferry("run", "hello.hello").stdout == "edited hello\n"

    # confined as any package: its tree is read-only to it
    p = agent.ferry("run", "hello.write")
    assert p.stdout == "read-only\n" and "Read-only file system" in p.stderr
    assert not os.path.exists(os.path.join(tree, "new"))
    uid = os.stat(os.path.join(agent.root, "data/hello/common")).st_uid
    assert uid != 0


def test_try_refused_as_pack_would(agent, work):
    tree, _ = tree_of(work)
    os.chmod(os.path.join(tree, "bin/hello"), 0o4755)
    p = agent.ferry("try", tree, check=1)
    assert f"cannot try {tree}: bin/hello: setuid bit set" in p.stderr
    os.chmod(os.path.join(tree, "bin/hello"), 0o755)

    os.symlink("/etc/shadow", os.path.join(tree, "shadow"))
    p = agent.ferry("try", tree, check=1)
    assert "shadow: symlink target \"/etc/shadow\" is absolute" in p.stderr
    os.unlink(os.path.join(tree, "shadow"))

    os.unlink(os.path.join(tree, "bin/server"))
    p = agent.ferry("try", tree, check=1)
    assert "apps.server.command: bin/server is not in the package" in p.stderr

    tree2, _ = tree_of(work, name="other")
    with open(os.path.join(tree2, "meta/ferry.yaml"), "a") as f:
        f.write("plugs:\n  net:\n    interface: netwrok\n")
    p = agent.ferry("try", tree2, check=1)
    assert "netwrok" in p.stderr and "did you mean" in p.stderr, p.stderr

    empty = os.path.join(work, "empty")
    os.makedirs(empty)
    p = agent.ferry("try", empty, check=1)
    assert f"cannot try {empty}: {empty}: no meta/ferry.yaml" in p.stderr
    p = agent.ferry("try", os.path.join(work, "hello_1.0.ferry"), check=1)
    assert "not a directory (ferry install takes a .ferry file)" in p.stderr
    # nothing was left behind
    assert agent.json("list") == []
    assert [f for f in os.listdir(os.path.join(agent.root, "images")) if f.endswith(".try")] == []


def test_install_over_try_and_remove(agent, work):
    tree, image = tree_of(work)
    before = sorted(os.listdir(tree))
    agent.ferry("try", tree)
    mnt = os.path.join(agent.root, "mnt/hello/x1")
    assert mounts_under(mnt) == [mnt]

    # a real revision over it: an ordinary refresh, the directory untouched
    p = agent.ferry("install", image, "--dangerous")
    assert p.stdout == "hello 1.0 (revision x2) installed, replacing revision x1\n"
    assert listing(agent)[1] == ["hello", "1.0", "x2", "latest/stable", "dangerous"]
    assert agent.check_invariant() == "x2"
    # and back to the tried one
    agent.ferry("revert", "hello")
    assert agent.check_invariant() == "x1"

    # try again over it: a new revision of the same directory
    agent.ferry("try", tree)
    assert agent.check_invariant() == "x3"

    agent.ferry("remove", "hello", "--purge")
    assert agent.installed() is None
    assert not os.path.exists(os.path.join(agent.root, "mnt/hello"))
    assert sorted(os.listdir(tree)) == before
    assert open(os.path.join(tree, "VERSION")).read() == "1.0\n"
    assert [f for f in os.listdir(os.path.join(agent.root, "images"))] in ([], [".incoming"])


def test_tried_revision_survives_a_restart_of_ferryd(agent, work):
    tree, _ = tree_of(work)
    agent.ferry("try", tree)
    assert agent.stop() == 0
    mnt = os.path.join(agent.root, "mnt/hello/x1")
    subprocess.run(["umount", mnt], check=True)  # as after a reboot
    agent.start()
    assert agent.check_invariant() == "x1"
    write(tree, "VERSION", "2.0\n")
    agent.ferry("restart", "hello")
    assert agent.ask()[0] == "2.0"


def test_try_without_root(work):
    """A ferryd that is not root links the directory; ferry-confine binds it
    read-only into the sandbox."""
    a = Agent(user=65534).start()
    try:
        tree = os.path.join(a.dir, "tree")
        shutil.copytree(tree_of(work)[0], tree, symlinks=True)
        subprocess.run(["chown", "-R", "65534:65534", tree], check=True)
        p = a.ferry("try", tree)
        assert p.stdout == "hello 1.0 (revision x1) tried\n"
        assert os.readlink(os.path.join(a.root, "mnt/hello/x1")) == tree
        assert a.check_invariant() == "x1"
        write(tree, "VERSION", "1.1\n")
        a.ferry("restart", "hello")
        assert a.ask()[0] == "1.1"
        a.ferry("remove", "hello")
        assert open(os.path.join(tree, "VERSION")).read() == "1.1\n"
        assert not os.path.lexists(os.path.join(a.root, "mnt/hello"))
    finally:
        assert a.stop() == 0
        a.cleanup()
