"""ferry's TUF repository writer end to end with ferry's client over HTTP on
127.0.0.1: publish, refresh, download; new revisions; key rotation of every
kind, root twice with threshold 2; timestamp key rotation that makes the
client drop its cached timestamp; re-signing before expiry; a writer killed
in the middle of a commit leaves a repository the client still accepts."""
import json
import os

from conftest import run
from tuf_harness import Client, Repo, World, accepted, refused, serve, world  # noqa: F401


def test_publish_refresh_download(world):
    w = world
    accepted(w.client.refresh())
    # a refresh fetches only the top of the tree: no package role yet
    assert w.client.stored() == ["root.json", "snapshot.json", "targets.json", "timestamp.json"]
    img = w.path("hello", "hello_1_amd64.ferry")
    accepted(w.client.download(img, w.path("hello", "channels.json")))
    with open(w.client.target_file(img), "rb") as f:
        assert f.read() == b"image of hello revision 1\n"
    # exactly one bin and one package role were needed to find hello
    stored = w.client.stored()
    assert "pkg-hello.json" in stored and "pkg-world.json" not in stored
    assert len([n for n in stored if n.startswith("bin-")]) == 1
    w.client.assert_only_verified(w.repo)

    # an artifact already there with the right hashes is not fetched again
    w.server.reset_counters()
    accepted(w.client.download(img))
    assert not [r for r in w.server.requests if r.startswith("targets/")]


def test_new_revision_reaches_the_client(world):
    w = world
    accepted(w.client.refresh())
    before = w.repo.version("timestamp")
    img2 = w.add("hello", "hello_2_amd64.ferry", b"revision 2\n")
    w.add("hello", "channels.json", json.dumps({"latest/stable": 2}).encode())
    assert w.repo.version("timestamp") == before + 2  # one per commit
    accepted(w.client.download(img2, w.path("hello", "channels.json")))
    with open(w.client.target_file(w.path("hello", "channels.json")), "rb") as f:
        assert json.loads(f.read()) == {"latest/stable": 2}
    w.client.assert_only_verified(w.repo)
    # the old channel map stays published under its hash (consistent snapshot)
    old = w.repo.target_url_path(w.path("hello", "channels.json"),
                                 json.dumps({"latest/stable": 1}).encode())
    assert os.path.isfile(os.path.join(w.repo.published, old))


def test_root_rotated_twice_with_threshold_two(tmp_path, serve):
    w = World(tmp_path, serve, init_opts=("--keys", "root=3/2"))
    accepted(w.client.refresh())
    first = w.repo.role_keyids("root")
    w.repo.edit("rotate", "root", "--keys", "3", "--threshold", "2")
    second = w.repo.role_keyids("root")
    w.repo.edit("rotate", "root", "--keys", "3", "--threshold", "2")
    third = w.repo.role_keyids("root")
    assert not set(first) & set(second) and not set(second) & set(third)
    # 2.root.json carries signatures of both the old and the new root keys
    r2 = w.repo.load("2.root.json")
    ids = {s["keyid"] for s in r2["signatures"]}
    assert len(ids & set(first)) >= 2 and len(ids & set(second)) >= 2

    accepted(w.client.download(w.path("world", "channels.json")))
    trusted = json.loads(w.client.metadata("root.json"))
    assert trusted["signed"]["version"] == 3
    assert trusted["signed"]["roles"]["root"]["keyids"] == third
    assert trusted["signed"]["roles"]["root"]["threshold"] == 2
    w.client.assert_only_verified(w.repo)

    # a client that starts from version 1 walks the chain 1 -> 2 -> 3 too
    fresh = Client(tmp_path, w.server, name="fresh").init(w.root1)
    accepted(fresh.refresh())
    assert json.loads(fresh.metadata("root.json"))["signed"]["version"] == 3


def test_timestamp_key_rotation_drops_cached_timestamp(world):
    w = world
    accepted(w.client.refresh())
    old_ts = w.client.metadata("timestamp.json")
    w.repo.edit("rotate", "timestamp")
    w.repo.edit("rotate", "snapshot", "--keys", "2", "--threshold", "2")
    accepted(w.client.refresh())
    new_ts = w.client.metadata("timestamp.json")
    assert new_ts != old_ts
    assert new_ts == w.repo.read("timestamp.json")
    signed_by = {s["keyid"] for s in json.loads(new_ts)["signatures"]}
    assert signed_by == set(w.repo.role_keyids("timestamp"))
    assert w.client.metadata("snapshot.json") == w.repo.read(
        f"{w.repo.version('snapshot')}.snapshot.json")


def test_every_role_rotates(world):
    w = world
    accepted(w.client.refresh())
    for role in ("targets", "bins", "hello", "world"):
        w.repo.edit("rotate", role)
    accepted(w.client.download(w.path("hello", "channels.json"),
                               w.path("world", "channels.json")))
    w.client.assert_only_verified(w.repo)
    # targets changed twice: new targets keys, then new keys for the bins
    targets = json.loads(w.client.metadata("targets.json"))
    assert targets["signed"]["version"] == 3
    assert {s["keyid"] for s in targets["signatures"]} == set(w.repo.role_keyids("targets"))


def test_resign_before_expiry(tmp_path, serve):
    w = World(tmp_path, serve, init_opts=("--expires", "timestamp=600"))
    accepted(w.client.refresh())
    p = w.repo.edit("resign", "--within", "60")
    assert p.stdout.strip() == "0 roles re-signed"
    v = w.repo.version("timestamp")
    p = w.repo.edit("resign", "--within", "3600")
    assert p.stdout.strip() == "1 roles re-signed"
    assert w.repo.version("timestamp") == v + 1
    accepted(w.client.refresh())
    assert w.client.metadata("timestamp.json") == w.repo.read("timestamp.json")


def test_writer_killed_mid_commit_leaves_a_valid_repository(world):
    """A power cut at each step of a commit: the published tree is the old
    repository or the new one, and the client accepts it either way."""
    w = world
    accepted(w.client.refresh())
    src = w.tmp / "rev2"
    src.write_bytes(b"revision 2\n")
    for point in ("tuf_repo.sync", "tuf_repo.root", "tuf_repo.timestamp"):
        w.repo.edit("add-target", "hello", "hello_2_amd64.ferry", str(src), check=None,
                    env={"FERRY_FAULT": point, "FERRY_FAULT_ACTION": "kill"})
        p = w.client.download(w.path("hello", "channels.json"))
        accepted(p)
        w.client.assert_only_verified(w.repo)
    w.repo.edit("add-target", "hello", "hello_2_amd64.ferry", str(src))
    accepted(w.client.download(w.path("hello", "hello_2_amd64.ferry")))


def test_writer_refuses_bad_input(tmp_path):
    repo = Repo(tmp_path / "repo").init("--bin-digits", "1")
    p = repo.edit("add-package", "Not_Valid", check=1)
    assert "package name 'Not_Valid'" in p.stderr
    p = repo.edit("add-target", "ghost", "x", "/dev/null", check=1)
    assert "package ghost: no role in the repository" in p.stderr
    p = Repo(tmp_path / "repo").tool("init", str(tmp_path / "repo"), check=1)
    assert "already a repository" in p.stderr
    p = repo.tool("init", str(tmp_path / "r2"), "--keys", "root=1/2", check=1)
    assert "root threshold: expected 1..1" in p.stderr


def test_client_binary_contract(world):
    """ferry-tuf-client exits 1 (not 2, not a crash) on a bad invocation."""
    p = run("ferry-tuf-client", "--metadata-dir", str(world.client.mdir), "frobnicate")
    assert p.returncode == 1


def test_key_rotation_killed_after_root_is_finished_by_the_next_writer(world):
    """A rotation of the timestamp or snapshot keys stopped after the new
    root was published, before the files the new keys sign: clients refuse
    the old files under the new root. The next writer to open the
    repository, whatever it does (here a re-sign that finds nothing to do),
    signs them again, and clients accept the repository."""
    w = world
    accepted(w.client.refresh())

    def published_signers(role):
        """(signers of the published file of role, keys the newest root names)"""
        names = os.listdir(w.repo.metadata)
        rv = max(int(n.split(".")[0]) for n in names if n.endswith(".root.json"))
        root = w.repo.load(f"{rv}.root.json")["signed"]
        ts = w.repo.load("timestamp.json")
        doc = ts if role == "timestamp" else w.repo.load(
            f"{ts['signed']['meta']['snapshot.json']['version']}.snapshot.json")
        return {s["keyid"] for s in doc["signatures"]}, set(root["roles"][role]["keyids"])

    for role in ("timestamp", "snapshot"):
        w.repo.edit("rotate", role, check=None,
                    env={"FERRY_FAULT": "tuf_repo.timestamp", "FERRY_FAULT_ACTION": "kill"})
        signers, trusted = published_signers(role)
        assert not signers & trusted, f"{role}: the fault point did not stop the rotation"
        refused(w.client.refresh())
        p = w.repo.edit("resign", "--within", "60")
        assert p.stdout.strip() == "0 roles re-signed"
        signers, trusted = published_signers(role)
        assert signers == trusted
        accepted(w.client.refresh())
        w.client.assert_only_verified(w.repo)
