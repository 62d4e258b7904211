"""The attacks TUF's specification lists, mounted against ferry's client
over HTTP on 127.0.0.1, on a repository written by ferry's writer. The
server plays the hostile mirror (swaps, replays, truncates, never ends,
trickles); where an attack needs stolen keys, the test signs with key files
taken from the repository's keys/ directory. Each test asserts the refusal
(exit status 1 and a message naming the cause) and that nothing unverified
reached the metadata or the target directory."""
import copy
import glob
import json
import os

import pytest

from tuf_harness import (Client, World, accepted, refused, serve, sha256, sign,  # noqa: F401
                         world)


def bump(signed, **changes):
    s = copy.deepcopy(signed)
    s["version"] += 1
    s.update(changes)
    return s


def keys_of(w, role):
    return [w.repo.key_file(k) for k in w.repo.role_keyids(role)]


def delegated_keys(w, parent_file, role):
    """Key files of a delegated role, from its delegator's metadata."""
    d = w.repo.load(parent_file)["signed"]["delegations"]
    entry = next(r for r in d["roles"] if r["name"] == role)
    return [w.repo.key_file(k) for k in entry["keyids"]]


def current(w, role):
    """(file name, signed) of the newest version of a role."""
    name = f"{w.repo.version(role)}.{role}.json"
    return name, w.repo.load(name)["signed"]


def bin_of(w, pkg):
    tpath = w.path(pkg, "x")
    return "bin-" + tpath[0]  # the fixture's repository has 16 bins


def test_arbitrary_installation_swapped_target(world):
    """A mirror serves other bytes, of the same length, for a signed target."""
    w = world
    accepted(w.client.refresh())
    img = w.path("hello", "hello_1_amd64.ferry")
    w.server.overrides[w.url(img)] = b"X" * len(w.content[img])
    refused(w.client.download(img), "hash")
    assert not os.path.exists(w.client.target_file(img))
    assert os.listdir(w.client.tdir) == []
    w.client.assert_only_verified(w.repo)


def test_arbitrary_installation_forged_metadata(world):
    """A mirror adds its own target to a package's role without its key."""
    w = world
    accepted(w.client.refresh())
    name, signed = current(w, "pkg-hello")
    evil = w.path("hello", "evil.ferry")
    forged = copy.deepcopy(w.repo.load(name))
    forged["signed"]["targets"][evil] = {"length": 4, "hashes": {"sha256": "00" * 32}}
    w.server.overrides["metadata/" + name] = json.dumps(forged).encode()
    refused(w.client.download(evil), "pkg-hello", "signature")
    assert "pkg-hello.json" not in w.client.stored()
    assert os.listdir(w.client.tdir) == []
    w.client.assert_only_verified(w.repo)


def test_arbitrary_installation_unlisted_target(world):
    """A file that no role lists is not installed, whatever the server has."""
    w = world
    evil = w.path("hello", "evil.ferry")
    d, base = evil.rsplit("/", 1)
    w.server.overrides[f"targets/{d}/{'00' * 32}.{base}"] = b"evil"
    w.server.overrides[f"targets/{evil}"] = b"evil"
    refused(w.client.download(evil), evil)
    assert os.listdir(w.client.tdir) == []
    w.client.assert_only_verified(w.repo)


@pytest.mark.parametrize("what", ["timestamp", "snapshot", "target"])
def test_endless_data(world, what):
    """The server answers with data that never ends: the client stops at the
    length it expects (or its bound) and keeps nothing."""
    w = world
    accepted(w.client.refresh())
    old_ts = w.client.metadata("timestamp.json")
    img = w.path("hello", "hello_1_amd64.ferry")
    if what == "timestamp":
        w.server.endless.add("metadata/timestamp.json")
    elif what == "snapshot":
        w.add("world", "channels.json", b'{"latest/stable": 2}')
        w.server.endless.add(f"metadata/{w.repo.version('snapshot')}.snapshot.json")
    else:
        w.server.endless.add(w.url(img))
    p = w.client.download(img)
    refused(p)
    assert any(s in p.stderr.lower() for s in ("length", "larger", "exceed", "limit", "bytes"))
    assert w.server.bytes_sent < 64 << 20
    assert not os.path.exists(w.client.target_file(img))
    if what == "timestamp":
        assert w.client.metadata("timestamp.json") == old_ts
    w.client.assert_only_verified(w.repo)


def test_extraneous_dependency_outside_delegation(world):
    """The owner of package world (its key) and of the store's online keys
    lists a file under hello's name in world's role: hello's path is
    delegated to hello's role alone, so the client will not install it."""
    w = world
    accepted(w.client.refresh())
    evil = w.path("hello", "dependency.ferry")
    d, base = evil.rsplit("/", 1)
    payload = b"extraneous"
    digest = sha256(payload)
    w.server.overrides[f"targets/{d}/{digest}.{base}"] = payload

    bin_name, _ = current(w, bin_of(w, "world"))
    wname, wsigned = current(w, "pkg-world")
    wsigned = bump(wsigned)
    wsigned["targets"][evil] = {"length": len(payload), "hashes": {"sha256": digest}}
    wfile = f"{wsigned['version']}.pkg-world.json"
    w.server.overrides["metadata/" + wfile] = sign(wsigned, delegated_keys(w, bin_name,
                                                                             "pkg-world"))
    sname, ssigned = current(w, "snapshot")
    ssigned = bump(ssigned)
    ssigned["meta"]["pkg-world.json"] = {"version": wsigned["version"]}
    sbytes = sign(ssigned, keys_of(w, "snapshot"))
    w.server.overrides[f"metadata/{ssigned['version']}.snapshot.json"] = sbytes
    tsigned = bump(w.repo.load("timestamp.json")["signed"])
    tsigned["meta"]["snapshot.json"] = {"version": ssigned["version"], "length": len(sbytes)}
    w.server.overrides["metadata/timestamp.json"] = sign(tsigned, keys_of(w, "timestamp"))

    # world's own files still install: the forged world role is valid there
    accepted(w.client.download(w.path("world", "channels.json")))
    refused(w.client.download(evil), evil)
    assert not os.path.exists(w.client.target_file(evil))


def test_fast_forward_and_recovery(world):
    """A stolen timestamp key signs version 10**6: clients take it (it is
    validly signed) and would then refuse every real timestamp. Rotating the
    timestamp key makes them drop it and recover."""
    w = world
    accepted(w.client.refresh())
    real_ts = w.repo.load("timestamp.json")["signed"]
    ff = dict(copy.deepcopy(real_ts), version=10**6)
    w.server.overrides["metadata/timestamp.json"] = sign(ff, keys_of(w, "timestamp"))
    accepted(w.client.refresh())
    assert json.loads(w.client.metadata("timestamp.json"))["signed"]["version"] == 10**6

    w.server.overrides.clear()
    w.add("hello", "channels.json", b'{"latest/stable": 2}')
    p = w.client.refresh()
    refused(p, "version")  # the real timestamp now looks like a rollback
    assert json.loads(w.client.metadata("timestamp.json"))["signed"]["version"] == 10**6

    w.repo.edit("rotate", "timestamp")  # recovery: root N+1 with a new timestamp key
    accepted(w.client.download(w.path("hello", "channels.json")))
    assert w.client.metadata("timestamp.json") == w.repo.read("timestamp.json")
    w.client.assert_only_verified(w.repo)


FAKETIME_LIB = next(iter(glob.glob("/usr/lib/*/faketime/libfaketime.so.1")), None)


@pytest.mark.skipif(not FAKETIME_LIB, reason="faketime is not installed (scripts/install-deps)")
def test_indefinite_freeze_clock_moves_on(world):
    """The mirror keeps serving the last timestamp it had; two days later it
    has expired and the client says so instead of trusting a frozen view."""
    w = world
    accepted(w.client.refresh())
    trusted = w.client.stored()
    env = {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": "+2d", "DONT_FAKE_MONOTONIC": "1",
           "ASAN_OPTIONS": "verify_asan_link_order=0:detect_leaks=1:abort_on_error=1"}
    p = w.client.download(w.path("hello", "channels.json"), env=env)
    refused(p, "timestamp", "expired")
    assert os.listdir(w.client.tdir) == []
    assert w.client.stored() == trusted
    w.client.assert_only_verified(w.repo)


@pytest.mark.parametrize("role", ["timestamp", "snapshot", "targets", "pkg-hello"])
def test_indefinite_freeze_expired_metadata(world, role):
    """Metadata signed with an expiry in the past (the writer re-signs it so)
    is refused, at every level of the tree."""
    w = world
    accepted(w.client.refresh())
    w.repo.edit("touch", role, "--expires-in", "-60")
    p = w.client.download(w.path("hello", "channels.json"))
    refused(p, role.split("-")[0], "expired")
    assert os.listdir(w.client.tdir) == []
    w.client.assert_only_verified(w.repo)


def test_mix_and_match_old_snapshot(world):
    """Current timestamp, but the snapshot it names is served with an older
    snapshot's content."""
    w = world
    accepted(w.client.refresh())
    old_name, _ = current(w, "snapshot")
    w.add("hello", "channels.json", b'{"latest/stable": 2}')
    new_name, _ = current(w, "snapshot")
    w.server.overrides["metadata/" + new_name] = w.repo.read(old_name)
    refused(w.client.refresh(), "snapshot")
    assert json.loads(w.client.metadata("snapshot.json"))["signed"]["version"] == int(
        old_name.split(".")[0])
    w.client.assert_only_verified(w.repo)


def test_mix_and_match_old_package_role(world):
    """Current snapshot, but a package's role is served from an older
    version, under the new version's name: the old channel map must not
    come back."""
    w = world
    old_name, _ = current(w, "pkg-hello")
    w.add("hello", "channels.json", b'{"latest/stable": 2}')
    new_name, _ = current(w, "pkg-hello")
    w.server.overrides["metadata/" + new_name] = w.repo.read(old_name)
    cm = w.path("hello", "channels.json")
    refused(w.client.download(cm), "pkg-hello", "version")
    assert not os.path.exists(w.client.target_file(cm))
    w.client.assert_only_verified(w.repo)


def test_rollback_timestamp(world):
    """A replayed older timestamp, validly signed and not expired."""
    w = world
    old_ts = w.repo.read("timestamp.json")
    w.add("hello", "channels.json", b'{"latest/stable": 2}')
    accepted(w.client.refresh())
    newest = w.client.metadata("timestamp.json")
    w.server.overrides["metadata/timestamp.json"] = old_ts
    refused(w.client.refresh(), "timestamp", "version")
    assert w.client.metadata("timestamp.json") == newest
    w.client.assert_only_verified(w.repo)


def test_rollback_package_through_old_snapshot(tmp_path, serve):
    """Stolen online keys (snapshot, timestamp) re-publish an old snapshot
    that names an older version of a package's role: the client's trusted
    snapshot says the role was newer, so it refuses."""
    w = World(tmp_path, serve)
    w.add("hello", "channels.json", b'{"latest/stable": 2}')
    accepted(w.client.download(w.path("hello", "channels.json")))
    _, ssigned = current(w, "snapshot")
    ssigned = bump(ssigned)
    ssigned["meta"]["pkg-hello.json"]["version"] -= 1
    sbytes = sign(ssigned, keys_of(w, "snapshot"))
    w.server.overrides[f"metadata/{ssigned['version']}.snapshot.json"] = sbytes
    tsigned = bump(w.repo.load("timestamp.json")["signed"])
    tsigned["meta"]["snapshot.json"] = {"version": ssigned["version"], "length": len(sbytes)}
    tbytes = sign(tsigned, keys_of(w, "timestamp"))
    w.server.overrides["metadata/timestamp.json"] = tbytes
    refused(w.client.refresh(), "pkg-hello")
    # the forged timestamp is validly signed (its key was stolen); the
    # snapshot it points to is what the client refused
    w.repo.genuine.add(sha256(tbytes))
    assert json.loads(w.client.metadata("snapshot.json"))["signed"]["version"] == \
        ssigned["version"] - 1
    w.client.assert_only_verified(w.repo)


def test_key_compromise_below_threshold(tmp_path, serve):
    """Roles with threshold 2: one stolen key is not enough, and the same
    signature listed twice still counts once."""
    w = World(tmp_path, serve, init_opts=("--keys", "timestamp=2/2", "--keys", "root=3/2"))
    accepted(w.client.refresh())
    trusted = {n: w.client.metadata(n) for n in w.client.stored()}
    one = keys_of(w, "timestamp")[:1]
    forged = bump(w.repo.load("timestamp.json")["signed"])
    w.server.overrides["metadata/timestamp.json"] = sign(forged, one)
    refused(w.client.refresh(), "timestamp", "signature")
    doubled = json.loads(sign(forged, one))
    doubled["signatures"] *= 2
    w.server.overrides["metadata/timestamp.json"] = json.dumps(doubled).encode()
    refused(w.client.refresh(), "timestamp")

    # one root key of three signs a new root that hands the attacker the keys
    w.server.overrides.clear()
    root = w.repo.load("1.root.json")["signed"]
    evil_root = bump(root)
    evil_root["roles"]["timestamp"] = {"keyids": evil_root["roles"]["root"]["keyids"][:1],
                                       "threshold": 1}
    w.server.overrides["metadata/2.root.json"] = sign(evil_root, keys_of(w, "root")[:1])
    refused(w.client.refresh(), "root")
    assert {n: w.client.metadata(n) for n in w.client.stored()} == trusted
    w.client.assert_only_verified(w.repo)


def test_wrong_software_installation(world):
    """Another package's genuine image under hello's name, and another
    package's genuine role under hello's role name."""
    w = world
    hello = w.path("hello", "hello_1_amd64.ferry")
    world_img = w.path("world", "world_1_amd64.ferry")
    assert len(w.content[hello]) == len(w.content[world_img])
    w.server.overrides[w.url(hello)] = w.content[world_img]
    refused(w.client.download(hello), "hash")
    assert os.listdir(w.client.tdir) == []

    w.client.assert_only_verified(w.repo)

    # a client that has not fetched hello's role yet
    fresh = Client(w.tmp, w.server, name="fresh").init(w.root1)
    w.server.overrides.clear()
    hname, _ = current(w, "pkg-hello")
    wname, _ = current(w, "pkg-world")
    w.server.overrides["metadata/" + hname] = w.repo.read(wname)
    refused(fresh.download(hello), "pkg-hello")
    assert os.listdir(fresh.tdir) == []
    assert "pkg-hello.json" not in fresh.stored()
    fresh.assert_only_verified(w.repo)


def test_slow_retrieval(world):
    """A server that trickles one byte every few seconds: the client gives up
    (its stall timeout) instead of waiting for ever, and keeps nothing."""
    w = world
    accepted(w.client.refresh())
    old_ts = w.client.metadata("timestamp.json")
    w.server.trickle["metadata/timestamp.json"] = 3.0
    p = w.client.refresh(timeout=240)
    refused(p)
    assert any(s in p.stderr.lower() for s in ("time", "slow", "stall"))
    assert w.client.metadata("timestamp.json") == old_ts
    w.client.assert_only_verified(w.repo)

