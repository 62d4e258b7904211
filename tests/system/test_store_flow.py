"""The publisher's flow end to end, through the real `ferry` command line
against a real ferry-store, on SQLite and on PostgreSQL: login, register,
push (with identical bytes giving the same revision), release, promote,
close, progressive releases, branches, status and revisions; then a TUF
client fetches the channel map the store published, and the store stops
cleanly on SIGTERM."""
import hashlib
import json
import os
import stat
import urllib.request

from conftest import run
from storelib import backend, make_image, postgres, store  # noqa: F401 (fixtures)


def status_rows(out):
    """`ferry status` lines as lists of columns, from after the header."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Track "))
    return [line.split() for line in lines[start + 1:] if line.strip()]


def test_publisher_flow(store, tmp_path):
    store.start()
    alice = store.account("alice")
    store.owner_tokens["alice"] = alice
    env = store.env()

    p = run("ferry", "login", "--store", store.url, input=alice + "\n", env=env, check=0)
    assert p.stdout == f"logged in to {store.url} as alice\n"
    cfg = os.path.join(store.config_home, "ferry", "store.json")
    assert stat.S_IMODE(os.stat(cfg).st_mode) == 0o600
    assert json.load(open(cfg))["token"] == alice

    p = run("ferry", "whoami", env=env, check=0)
    assert "account:  alice" in p.stdout

    p = run("ferry", "register", "hello", env=env, check=0)
    assert p.stdout == "registered hello for alice\n"

    img1 = make_image(tmp_path, "hello", "1.0")
    p = run("ferry", "push", img1, env=env, check=0)
    assert p.stdout == "pushed hello revision 1 (1.0)\n"
    p = run("ferry", "push", img1, env=env, check=0)
    assert p.stdout == "hello revision 1 (1.0) already holds these bytes\n"

    img2 = make_image(tmp_path, "hello", "1.1")
    p = run("ferry", "push", img2, "--release", "edge", env=env, check=0)
    assert p.stdout == "released hello revision 2 to latest/edge\n"

    p = run("ferry", "release", "hello", "1", "stable", "candidate", env=env, check=0)
    assert p.stdout.startswith(
        "released hello revision 1 to latest/stable, latest/candidate\n")

    p = run("ferry", "status", "hello", env=env, check=0)
    assert status_rows(p.stdout) == [
        ["latest", "amd64", "stable", "1.0", "1", "-"],
        ["candidate", "1.0", "1", "-"],
        ["beta", "↑", "↑", "-"],
        ["edge", "1.1", "2", "-"],
    ]

    p = run("ferry", "promote", "hello", "--from", "edge", "--to", "beta", env=env, check=0)
    assert p.stdout.startswith("promoted hello from latest/edge to latest/beta\n")

    p = run("ferry", "close", "hello", "candidate", env=env, check=0)
    assert p.stdout.startswith("closed latest/candidate of hello\n")
    # a closed risk follows the next more stable one
    assert ["candidate", "↑", "↑", "-"] in status_rows(p.stdout)

    p = run("ferry", "release", "hello", "2", "stable", "--progressive", "20", env=env,
            check=0)
    assert p.stdout.startswith(
        "released hello revision 2 to latest/stable for 20% of devices\n")
    rows = status_rows(p.stdout)
    assert rows[0] == ["latest", "amd64", "stable", "1.0", "1", "80%"]
    assert rows[1] == ["1.1", "2", "20%"]

    p = run("ferry", "release", "hello", "2", "beta/fix-1", env=env, check=0)
    assert p.stdout.startswith("released hello revision 2 to latest/beta/fix-1\n")

    p = run("ferry", "status", "hello", "--json", env=env, check=0)
    m = json.loads(p.stdout)
    by = {c["channel"]: c for c in m["channels"]}
    assert by["latest/stable"]["revision"] == 1
    assert by["latest/stable"]["progressive"] == {"revision": 2, "version": "1.1",
                                                  "percentage": 20}
    assert by["latest/candidate"]["follows"] == "latest/stable"
    assert by["latest/candidate"]["revision"] == 1
    assert by["latest/beta"]["revision"] == 2
    assert by["latest/beta/fix-1"]["expires"] is not None
    assert by["latest/beta/fix-1"]["branch"] == "fix-1"
    # the progressive release completes with a plain release
    run("ferry", "release", "hello", "2", "stable", env=env, check=0)
    m = json.loads(run("ferry", "status", "hello", "--json", env=env, check=0).stdout)
    by = {c["channel"]: c for c in m["channels"]}
    assert by["latest/stable"]["revision"] == 2
    assert by["latest/stable"]["progressive"] is None

    p = run("ferry", "revisions", "hello", "--json", env=env, check=0)
    revs = json.loads(p.stdout)["revisions"]
    assert [r["revision"] for r in revs] == [2, 1]
    assert revs[1]["version"] == "1.0"
    assert revs[1]["sha256"] == hashlib.sha256(open(img1, "rb").read()).hexdigest()
    assert revs[0]["architectures"] == ["amd64"]
    assert "latest/stable" in revs[0]["channels"]
    p = run("ferry", "revisions", "hello", env=env, check=0)
    assert p.stdout.splitlines()[0].split() == ["Rev.", "Uploaded", "Arches", "Version",
                                                "Channels"]

    store.check_consistent()

    # a TUF client that trusts only root.json finds the channel map through
    # targets -> bin -> pkg-hello, and the image it names
    meta = tmp_path / "client-meta"
    tdir = tmp_path / "client-targets"
    meta.mkdir()
    tdir.mkdir()
    root = os.path.join(store.dir, "repo", "published", "metadata", "1.root.json")
    run("ferry-tuf-client", "--metadata-dir", meta, "init", root, check=0)
    prefix = hashlib.sha256(b"hello").hexdigest()[:4]
    base = ["--metadata-url", f"{store.url}/repo/metadata", "--metadata-dir", meta,
            "--target-dir", tdir, "--target-base-url", f"{store.url}/repo/targets"]
    run("ferry-tuf-client", *base, "--target-name", f"{prefix}/hello/channels.json",
        "download", check=0)
    got = [f for f in os.listdir(tdir) if "channels.json" in f]
    cmap = json.load(open(tdir / got[0]))
    assert cmap["package"] == "hello"
    assert {c["channel"]: c["revision"] for c in cmap["channels"]}["latest/stable"] == 2
    target = cmap["revisions"]["2"]["target"]
    run("ferry-tuf-client", *base, "--target-name", f"{prefix}/hello/{target}", "download",
        check=0)
    got = [f for f in os.listdir(tdir) if target in f]
    assert open(tdir / got[0], "rb").read() == open(img2, "rb").read()

    assert store.stop() == 0, store.read_log()


def test_login_refuses_plain_http_to_other_hosts(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path), "HOME": str(tmp_path)}
    p = run("ferry", "login", "--store", "http://store.example.org", input="x\n", env=env,
            check=1)
    assert p.stderr == ("ferry: login: refusing to send a token over plain http to "
                        "store.example.org; use https, or --insecure if this network is "
                        "trusted\n")
    p = run("ferry", "status", "hello", env=dict(env, FERRY_STORE="http://10.1.2.3:8470",
                                                    FERRY_TOKEN="ferry_x"), check=1)
    assert "refusing to send a token over plain http to 10.1.2.3" in p.stderr
    assert not os.path.exists(tmp_path / "ferry" / "store.json")


def test_login_token_file_and_env_override(store, tmp_path):
    store.start()
    alice = store.account("alice")
    bob = store.account("bob")
    tf = tmp_path / "token"
    tf.write_text(alice + "\n")
    env = store.env()
    p = run("ferry", "login", "--store", store.url, "--token-file", tf, env=env, check=0)
    assert "as alice" in p.stdout
    assert "alice" in run("ferry", "whoami", env=env, check=0).stdout
    # FERRY_TOKEN wins over the saved token
    p = run("ferry", "whoami", env=dict(env, FERRY_TOKEN=bob), check=0)
    assert "account:  bob" in p.stdout
    p = run("ferry", "login", "--store", store.url, input=alice[:-1] + "0\n", env=env)
    if p.returncode == 0:  # astronomically unlikely: the same token
        return
    assert p.returncode == 1
    assert p.stderr == f"ferry: login to {store.url}: unknown token (HTTP 401: run ferry login)\n"
    assert store.stop() == 0, store.read_log()


def test_no_login(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path), "HOME": str(tmp_path)}
    p = run("ferry", "status", "hello", env=env, check=1)
    assert p.stderr == ("ferry: no store given: run ferry login --store URL, or set "
                        "FERRY_STORE and FERRY_TOKEN\n")


def test_static_tree_caching_and_ranges(store):
    store.start()
    status, h, body = store.request("GET", "/repo/metadata/timestamp.json")
    assert status == 200
    assert h["Cache-Control"] == "no-cache"
    assert int(h["Content-Length"]) == len(body)
    etag = h["ETag"]
    status, h2, body2 = store.request("GET", "/repo/metadata/timestamp.json",
                                      headers={"If-None-Match": etag})
    assert status == 304 and body2 == b""
    status, h, body = store.request("GET", "/repo/metadata/1.root.json")
    assert h["Cache-Control"] == "public, max-age=31536000, immutable"
    full = body
    status, h, part = store.request("GET", "/repo/metadata/1.root.json",
                                    headers={"Range": "bytes=10-19"})
    assert status == 206
    assert part == full[10:20]
    assert h["Content-Range"] == f"bytes 10-19/{len(full)}"
    status, h, part = store.request("GET", "/repo/metadata/1.root.json",
                                    headers={"Range": "bytes=-5"})
    assert status == 206 and part == full[-5:]
    status, h, _ = store.request("GET", "/repo/metadata/1.root.json",
                                 headers={"Range": f"bytes={len(full)}-"})
    assert status == 416
    for bad in ("/repo/../store.db", "/repo/metadata/../../store.db", "/repo/keys/x",
                "/repo/.hidden", "/repo/metadata/nothing.json"):
        status, _, body = store.request("GET", bad)
        assert status == 404, bad
        assert json.loads(body)["error"]["code"] == "not-found"
    status, _, _ = store.request("PUT", "/repo/metadata/timestamp.json", body=b"x")
    assert status == 405
    assert store.stop() == 0, store.read_log()


def test_request_id_in_replies_and_log(store):
    store.start()
    status, h, _ = store.request("GET", "/v1/account")
    rid = h["X-Request-Id"]
    assert status == 401
    assert store.stop() == 0
    lines = [line for line in store.read_log().splitlines() if f"[{rid}]" in line]
    assert any("GET /v1/account" in line and "401" in line for line in lines), lines


def test_tracks_are_opened_by_the_operator(store, tmp_path):
    store.start()
    alice = store.account("alice")
    store.owner_tokens["alice"] = alice
    store.ferry(alice, "register", "hello", check=0)
    img = make_image(tmp_path, "hello", "2.0")
    store.ferry(alice, "push", img, check=0)
    p = store.ferry(alice, "release", "hello", "1", "2.x/stable", check=1)
    assert p.stderr == ("ferry: release hello: track 2.x is not open for hello (the store's "
                        "operator opens tracks: ferry-store track add hello 2.x)\n")
    p = store.admin("track", "add", "hello", "2.x")
    assert p.stdout == "track 2.x of hello is open\n"
    p = store.ferry(alice, "release", "hello", "1", "2.x", check=0)
    assert p.stdout.startswith("released hello revision 1 to 2.x/stable\n")
    store.check_consistent()


def test_admin_accounts(store):
    t1 = store.account("carol")
    assert t1.startswith("ferry_") and len(t1) == 70
    t2 = store.token("carol")
    assert t2 != t1
    p = store.admin("account", "list")
    rows = [line.split() for line in p.stdout.splitlines()[1:]]
    assert [r[0] for r in rows] == ["carol", "carol"]
    assert {r[2] for r in rows} == {"active"}
    p = store.admin("account", "revoke", "carol")
    assert p.stdout == "revoked 2 tokens of carol\n"
    p = store.admin("account", "add", "carol", check=1)
    assert p.stderr == "ferry-store account: account carol already exists\n"
    p = store.admin("account", "add", "Bad Name", check=1)
    assert "account name \"Bad Name\"" in p.stderr
    p = store.admin("account", "token", "nobody", check=1)
    assert p.stderr == "ferry-store account: account nobody does not exist\n"
    p = store.admin("migrate")
    assert p.stdout == "database schema is at version 7, nothing to do\n"


def test_root_key_offline(tmp_path):
    """With the root and targets keys moved away, the store keeps releasing
    and re-signing online roles; a full re-signing needs them back, and a
    TUF client follows the new root."""
    from storelib import Store
    store = Store(tmp_path, "sqlite").init().start()
    alice = store.account("alice")
    store.owner_tokens = {"alice": alice}
    root = json.load(open(os.path.join(store.dir, "repo", "published", "metadata",
                                       "1.root.json")))["signed"]
    offline = tmp_path / "offline"
    offline.mkdir()
    for role in ("root", "targets"):
        for kid in root["roles"][role]["keyids"]:
            os.rename(os.path.join(store.dir, "repo", "keys", f"{kid}.pem"),
                      offline / f"{kid}.pem")
    store.ferry(alice, "register", "hello", check=0)
    store.ferry(alice, "push", make_image(tmp_path, "hello", "1.0"), "--release", "stable",
                check=0)
    store.check_consistent()
    p = store.admin("resign", "--within", "200000")
    assert p.stdout == "re-signed 1 role\n"
    p = store.admin("resign", "--all", "--within", "40000000", check=1)
    assert "0 of the 1 keys needed (its keys) are in" in p.stderr
    for f in offline.iterdir():
        os.rename(f, os.path.join(store.dir, "repo", "keys", f.name))
    p = store.admin("resign", "--all", "--within", "40000000")
    assert p.stdout.startswith("re-signed ")
    meta = tmp_path / "client"
    meta.mkdir()
    run("ferry-tuf-client", "--metadata-dir", meta, "init",
        os.path.join(store.dir, "repo", "published", "metadata", "1.root.json"), check=0)
    run("ferry-tuf-client", "--metadata-url", f"{store.url}/repo/metadata", "--metadata-dir",
        meta, "refresh", check=0)
    assert json.load(open(meta / "root.json"))["signed"]["version"] == 2
    assert store.stop() == 0, store.read_log()


def test_sigterm_lets_requests_in_flight_finish(store, tmp_path):
    import socket
    import time
    store.start()
    alice = store.account("alice")
    store.owner_tokens["alice"] = alice
    store.ferry(alice, "register", "hello", check=0)
    img = open(make_image(tmp_path, "hello", "1.0", payload=os.urandom(100000)), "rb").read()
    s = socket.create_connection(("127.0.0.1", store.port))
    s.sendall((f"POST /v1/push HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {alice}\r\n"
               "Content-Type: application/octet-stream\r\nConnection: close\r\n"
               f"Content-Length: {len(img)}\r\n\r\n").encode() + img[:len(img) // 2])
    time.sleep(0.5)
    store.proc.terminate()
    time.sleep(0.5)
    assert store.proc.poll() is None  # still serving the upload in flight
    s.sendall(img[len(img) // 2:])
    reply = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        reply += chunk
    s.close()
    assert reply.startswith(b"HTTP/1.1 201"), reply
    assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["revision"] == 1
    assert store.proc.wait(timeout=60) == 0, store.read_log()
    store.proc.stdout.close()
    store.log.close()
    store.proc = None
    store.start()
    store.check_consistent()
    assert store.sql("SELECT revision FROM revisions") == [("1",)]
    assert store.stop() == 0, store.read_log()
