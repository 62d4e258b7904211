"""Bad input: each gets a clear error, and the store (database rows, blobs,
the published tree, uploads in progress) is exactly as it was."""
import json
import os
import socket
import time

import pytest

from storelib import backend, make_image, postgres, store  # noqa: F401 (fixtures)


@pytest.fixture
def ready(store, tmp_path):
    """A store with alice owning hello (revision 1 on edge) and bob owning other."""
    store.start()
    alice, bob = store.account("alice"), store.account("bob")
    store.owner_tokens.update(alice=alice, bob=bob)
    store.ferry(alice, "register", "hello", check=0)
    store.ferry(bob, "register", "other", check=0)
    img = make_image(tmp_path, "hello", "1.0")
    store.ferry(alice, "push", img, "--release", "edge", check=0)
    return store, alice, bob


def unchanged(store, before):
    after = store.state()
    assert after == before
    store.check_consistent()


def error_of(data):
    return json.loads(data)["error"]


def test_bad_json_bodies(ready):
    store, alice, _ = ready
    before = store.state()
    rel = "/v1/packages/hello/release"
    cases = [
        (b"[" * 10000 + b"]" * 10000, 400, "invalid-json", "JSON nested deeper than 32 levels"),
        (b'{"revision": 1e400, "channels": ["edge"]}', 400, "invalid-json", "invalid JSON"),
        (b'{"revision": 123456789012345678901234567890, "channels": ["edge"]}', 400,
         "invalid-json", "invalid JSON"),
        (b'{"revision": 9223372036854775807, "channels": ["edge"]}', 404, "not-found",
         "hello has no revision 9223372036854775807"),
        (b'{"revision": 1.5, "channels": ["edge"]}', 400, "bad-request",
         '"revision": expected a positive integer'),
        (b'{"revision": 1, "channels": ["edge"], "progressive": 1e10}', 400, "bad-request",
         '"progressive": expected a percentage from 1 to 100'),
        (b'{"revision": 1, "channels": ["\xff\xfe"]}', 400, "invalid-json", "invalid JSON"),
        (b'{"revision": 1, "revision": 1, "channels": ["edge"]}', 400, "invalid-json",
         "duplicate object key"),
        (b'[1, 2]', 400, "invalid-json", "expected a JSON object"),
        (b'{"revision": 1, "channels": "edge"}', 400, "bad-request",
         '"channels": expected an array of channel names'),
        (b"x" * 70000, 413, "too-large", "request body of 70000 bytes is larger than 65536"),
    ]
    for body, status, code, msg in cases:
        st, _, data = store.request("POST", rel, body, {"Content-Type": "application/json"},
                                    token=alice)
        err = error_of(data)
        assert (st, err["code"]) == (status, code), (body[:60], err)
        assert msg in err["message"], (body[:60], err)
    unchanged(store, before)


def test_invalid_channel_names(ready):
    store, alice, _ = ready
    before = store.state()
    cases = {
        "latest/foo": 'invalid channel "latest/foo": "foo" is not a risk (stable, candidate, '
                      'beta, edge)',
        "a/b/c/d": 'invalid channel "a/b/c/d": more than three parts (TRACK/RISK/BRANCH)',
        "edge/": 'invalid channel "edge/": empty part',
        "stable/fix..1": 'invalid channel "stable/fix..1": branch "fix..1" must be letters and '
                         "digits with single '.', '_' or '-' between them, at most 128 bytes",
        "x" * 200: "invalid channel: longer than 172 bytes",
    }
    for name, msg in cases.items():
        p = store.ferry(alice, "release", "hello", "1", name, check=1)
        assert p.stderr == f"ferry: release hello: {msg}\n"
    p = store.ferry(alice, "close", "hello", "edge/", check=1)
    assert "empty part" in p.stderr
    p = store.ferry(alice, "promote", "hello", "--from", "edge", "--to", "edgy", check=1)
    assert p.stderr == ("ferry: promote hello: track edgy is not open for hello (the store's "
                        "operator opens tracks: ferry-store track add hello edgy)\n")
    unchanged(store, before)


def test_bad_images(ready, tmp_path):
    store, alice, _ = ready
    before = store.state()
    good = open(make_image(tmp_path, "hello", "2.0", payload=os.urandom(30000)), "rb").read()
    junk = tmp_path / "junk.ferry"
    junk.write_bytes(os.urandom(8192))
    cut = tmp_path / "cut.ferry"
    cut.write_bytes(good[:len(good) // 2])
    nometa = make_image(tmp_path, "hello", "2.1", manifest="")
    os.unlink(nometa)
    cases = [
        (str(junk), "not a package image: no valid squashfs superblock"),
        (str(cut), "truncated or with data appended"),
        (make_image(tmp_path, "hello", "2.2", pseudo=["bin/hello m 4755 0 0"]),
         "invalid image: bin/hello: setuid bit set"),
        (make_image(tmp_path, "hello", "2.3", pseudo=["dev d 755 0 0", "dev/null c 666 0 0 1 3"]),
         "invalid image: dev/null: device files are not allowed (only regular files, "
         "directories and symlinks)"),
        (make_image(tmp_path, "hello", "2.4", extra={"lib/x": ("link", "../../etc/passwd")}),
         'invalid image: lib/x: symlink to "../../etc/passwd" leads out of the package'),
        (make_image(tmp_path, "hello", "2.5", extra={"lib/y": ("link", "/etc/passwd")}),
         'invalid image: lib/y: symlink to "/etc/passwd" leads out of the package'),
        (make_image(tmp_path, "hello", "2.6", manifest="name: hello\nversion: [\n"),
         "invalid image: meta/ferry.yaml:"),
    ]
    for path, msg in cases:
        p = store.ferry(alice, "push", path, check=1)
        assert p.stderr.startswith(f"ferry: push {path}: ")
        assert msg in p.stderr, p.stderr
    unchanged(store, before)


def test_names_the_caller_does_not_own(ready, tmp_path):
    store, alice, _ = ready
    before = store.state()
    p = store.ferry(alice, "push", make_image(tmp_path, "other", "1.0"), check=1)
    assert p.stderr.endswith(": account alice may not publish other\n")
    p = store.ferry(alice, "push", make_image(tmp_path, "nobody", "1.0"), check=1)
    assert p.stderr.endswith(": package nobody is not registered (ferry register nobody)\n")
    p = store.ferry(alice, "release", "other", "1", "edge", check=1)
    assert p.stderr == "ferry: release other: account alice may not publish other\n"
    p = store.ferry(alice, "register", "other", check=1)
    assert p.stderr == "ferry: register other: the name other is already registered\n"
    p = store.ferry(alice, "register", "Bad_Name", check=1)
    assert "invalid package name \"Bad_Name\"" in p.stderr
    unchanged(store, before)


def test_oversized_upload(store, tmp_path):
    store.max_upload = 20000
    store.start()
    alice = store.account("alice")
    store.owner_tokens["alice"] = alice
    store.ferry(alice, "register", "hello", check=0)
    before = store.state()
    big = make_image(tmp_path, "hello", "3.0", payload=os.urandom(64 * 1024))
    size = os.path.getsize(big)
    p = store.ferry(alice, "push", big, check=1)
    assert p.stderr == (f"ferry: push {big}: upload of {size} bytes is larger than this "
                        "store accepts (20000 bytes)\n")
    unchanged(store, before)


def test_upload_cut_off_half_way(ready, tmp_path):
    store, alice, _ = ready
    before = store.state()
    img = open(make_image(tmp_path, "hello", "4.0", payload=os.urandom(200000)), "rb").read()
    s = socket.create_connection(("127.0.0.1", store.port))
    s.sendall((f"POST /v1/push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice}\r\n"
               "Content-Type: application/octet-stream\r\n"
               f"Content-Length: {len(img)}\r\n\r\n").encode() + img[:len(img) // 2])
    time.sleep(0.3)
    s.close()
    for _ in range(100):  # the server notices the closed connection
        if store.state()["uploads"] == []:
            break
        time.sleep(0.1)
    unchanged(store, before)
    assert "connection ended before the request completed" in store.read_log()


def test_oversized_headers(ready):
    store, alice, _ = ready
    before = store.state()
    st, _, _ = store.request("GET", "/v1/account", headers={"X-Big": "a" * 100000},
                             token=alice)
    assert st in (413, 431)
    unchanged(store, before)
