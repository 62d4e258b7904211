"""Device outcome reports, end to end: a real ferryd refreshes from a real
ferry-store (SQLite and PostgreSQL) and reports each outcome, signed with
the device key it generated at first start; the publisher reads them with
`ferry reports`. Then what the store refuses (tampered body or signature,
another key for a known device id, bad fields, strangers reading), the
retention bound, and a store that is down when the outcome happens."""
import base64
import json
import os
import sqlite3
import stat
import time
import uuid

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from device import Agent, build_package
from storelib import backend, postgres, store  # noqa: F401 (fixtures)


def wait_for(what, check, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = check()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Publisher:
    def __init__(self, store):
        self.store = store
        self.token = store.account("alice")
        self.ferry("register", "hello")

    def ferry(self, *args, token=None, check=0):
        p = self.store.ferry(token or self.token, *args)
        assert p.returncode == check, p.stdout + p.stderr
        return p

    def push(self, image, channel="stable"):
        out = self.ferry("push", image).stdout
        rev = out.split("revision ")[1].split()[0]
        self.ferry("release", "hello", rev, channel)
        return rev

    def reports(self, *args):
        return json.loads(self.ferry("reports", "hello", "--json", *args).stdout)

    @property
    def root_json(self):
        return os.path.join(self.store.dir, "repo", "published", "metadata", "1.root.json")


def device(pub, **config):
    conf = {"store": pub.store.url, "trust": pub.root_json, "refresh-timer": "every 1h",
            "retry-delay": "100ms"}
    conf.update(config)
    return Agent(config=conf)


@pytest.fixture
def pub(store):
    store.start()
    return Publisher(store)


@pytest.fixture
def dev(pub):
    a = device(pub).start()
    yield a
    status = a.stop()
    log = a.logtext()
    a.cleanup()
    assert status == 0, log


def test_refresh_outcomes_are_reported(pub, dev, tmp_path):
    work = str(tmp_path)
    system = dev.api("/v1/system")
    key_path = os.path.join(dev.root, "device.key")
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    assert len(system["device-key"]) == 64

    pub.push(build_package(work, version="1.0"))
    dev.ferry("install", "hello")
    pub.push(build_package(work, version="2.0"))
    dev.ferry("refresh", "hello")
    bad = build_package(work, version="3.0", hooks={
        "check-health": "echo 'connecting to the database'\necho 'no database'; exit 1"})
    pub.push(bad)
    p = dev.ferry("refresh", "hello", check=1)
    assert "no database" in p.stderr
    assert dev.check_invariant() == "2"

    got = wait_for("three reports", lambda: len(pub.reports()) == 3 and pub.reports())
    failed, ok2, ok1 = got
    assert ok1["device"] == system["device-id"]
    assert (ok1["from-revision"], ok1["to-revision"], ok1["result"]) == (None, 1, "ok")
    assert (ok2["from-revision"], ok2["to-revision"], ok2["result"]) == (1, 2, "ok")
    assert ok2["failed-step"] is None and ok2["log"] == [] and ok2["channel"] == "latest/stable"
    assert ok2["agent-version"] == "0.1.0"
    assert failed["result"] == "rolled-back"
    assert (failed["from-revision"], failed["to-revision"]) == (2, 3)
    assert failed["failed-step"] == "health"
    assert failed["message"] == "check-health hook exited with status 1"
    assert failed["log"] == ["connecting to the database", "no database"]
    assert abs(failed["time"] - time.time()) < 600

    # the table, newest first
    lines = pub.ferry("reports", "hello").stdout.splitlines()
    assert lines[0].split() == ["Time", "Device", "Revision", "Channel", "Result", "Failed",
                                "step"]
    assert lines[1].split()[1:] == [system["device-id"], "2", "->", "3", "latest/stable",
                                    "rolled-back", "health"]
    assert lines[2].split()[1:] == [system["device-id"], "1", "->", "2", "latest/stable",
                                    "ok", "-"]
    assert lines[3].split()[1:] == [system["device-id"], "-", "->", "1", "latest/stable",
                                    "ok", "-"]
    # filters
    assert [r["to-revision"] for r in pub.reports("--revision", "2")] == [2]
    assert [r["to-revision"] for r in pub.reports("-n", "1")] == [3]
    assert pub.reports("--device", "someone-else") == []
    # the store bound the device id to the key from /v1/system
    assert pub.store.sql("SELECT device, public_key FROM device_keys") == [
        (system["device-id"], system["device-key"])]
    # the outbox is empty once everything is sent
    wait_for("an empty outbox", lambda: outbox(dev) == [])

    # the key is kept across restarts, byte for byte
    before = open(key_path, "rb").read()
    dev.stop()
    dev.start()
    assert open(key_path, "rb").read() == before
    assert dev.api("/v1/system")["device-key"] == system["device-key"]

    # another device claiming this device id, with its own key, is refused;
    # it keeps its report (retried hourly) and warns
    # (test_agent_report_hardening.py has the rest)
    other = device(pub, **{"device-id": system["device-id"]}).start()
    try:
        other.ferry("install", "hello", check=1)   # stable holds the broken revision 3
        wait_for("the refusal", lambda: "device-key-mismatch" in other.logtext())
        assert "reported with another key before" in other.logtext()
        assert len(outbox(other)) == 1
    finally:
        assert other.stop() == 0
        other.cleanup()
    assert len(pub.reports()) == 3


def install_and_refresh(pub, dev, work):
    """Revision 1 installed, then revision 2 by a refresh."""
    pub.push(build_package(work, version="1.0"))
    dev.ferry("install", "hello")
    pub.push(build_package(work, version="2.0"))
    dev.ferry("refresh", "hello")


def test_a_revert_is_reported_as_a_revert(pub, dev, tmp_path):
    install_and_refresh(pub, dev, str(tmp_path))
    dev.ferry("revert", "hello")
    got = wait_for("three reports", lambda: len(pub.reports()) == 3 and pub.reports())
    assert [(r["from-revision"], r["to-revision"], r["result"], r["action"]) for r in got] == [
        (2, 1, "ok", "revert"), (1, 2, "ok", "refresh"), (None, 1, "ok", "install")]
    lines = pub.ferry("reports", "hello").stdout.splitlines()
    assert lines[1].split()[2:] == ["2", "->", "1", "(revert)", "latest/stable", "ok", "-"]
    assert lines[2].split()[2:] == ["1", "->", "2", "latest/stable", "ok", "-"]


def outbox(agent):
    con = sqlite3.connect(os.path.join(agent.root, "state.db"), timeout=30)
    try:
        return con.execute("SELECT id, attempts FROM outbox ORDER BY id").fetchall()
    finally:
        con.close()


# --- the endpoint, with reports signed here --------------------------------------------

class Device:
    def __init__(self, device_id=None):
        self.key = Ed25519PrivateKey.generate()
        self.id = device_id or uuid.uuid4().hex
        self.public = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw).hex()

    def report(self, **over):
        r = {"report-id": uuid.uuid4().hex, "device-id": self.id, "device-key": self.public,
             "package": "hello", "from-revision": 1, "to-revision": 2,
             "channel": "latest/stable", "result": "rolled-back", "failed-step": "health",
             "message": "check-health hook exited with status 1", "log": ["no database"],
             "time": int(time.time()), "agent-version": "0.1.0"}
        r.update(over)
        return r

    def sign(self, body):
        return "ed25519 " + base64.b64encode(self.key.sign(body)).decode()


def post(store, body, signature, content_type="application/json"):
    headers = {"Content-Type": content_type}
    if signature is not None:
        headers["X-Ferry-Device-Signature"] = signature
    status, _, data = store.request("POST", "/v1/reports", body, headers)
    return status, json.loads(data)


def test_signed_reports_and_what_is_refused(pub):
    store = pub.store
    d = Device()
    body = json.dumps(d.report()).encode()
    assert post(store, body, d.sign(body))[0] == 201
    # the same report again (an answer lost on the way) counts once
    assert post(store, body, d.sign(body)) == (200, {"duplicate": True})
    assert len(pub.reports()) == 1

    # a tampered body: the signature was made over other bytes
    tampered = body.replace(b'"rolled-back"', b'"ok"', 1).replace(b'"health"', b'null', 1)
    status, reply = post(store, tampered, d.sign(body))
    assert status == 403 and reply["error"]["code"] == "bad-signature"
    # a tampered signature
    sig = bytearray(d.key.sign(body))
    sig[5] ^= 1
    status, reply = post(store, body, "ed25519 " + base64.b64encode(bytes(sig)).decode())
    assert status == 403 and reply["error"]["code"] == "bad-signature"
    # no signature, or not one of ours
    status, reply = post(store, body, None)
    assert status == 401 and reply["error"]["code"] == "signature-required"
    status, reply = post(store, body, "rsa AAAA")
    assert status == 400 and "X-Ferry-Device-Signature" in reply["error"]["message"]
    # someone else's key for a device id the store knows
    thief = Device(d.id)
    other = json.dumps(thief.report()).encode()
    status, reply = post(store, other, thief.sign(other))
    assert status == 403 and reply["error"]["code"] == "device-key-mismatch"
    assert d.id in reply["error"]["message"]
    # a package that is not registered
    nope = json.dumps(d.report(package="nope")).encode()
    status, reply = post(store, nope, d.sign(nope))
    assert status == 404 and "nope is not registered" in reply["error"]["message"]
    # every field is checked; the message names it
    for field, value in [("result", "maybe"), ("to-revision", 0), ("from-revision", "1"),
                         ("channel", "latest/nightly"), ("device-id", "UPPER"),
                         ("device-key", "00"), ("report-id", "x"),
                         ("log", ["line"] * 21), ("log", ["x" * 501]),
                         ("message", "a\x01b"), ("message", "m" * 1025),
                         ("failed-step", None), ("time", -1), ("agent-version", ""),
                         ("package", "Bad_Name"), ("extra", 1)]:
        r = d.report(**{field: value})
        b = json.dumps(r).encode()
        status, reply = post(store, b, d.sign(b))
        assert status == 400, (field, value, reply)
        assert f'"{field}"' in reply["error"]["message"], (field, reply)
    r = d.report()
    del r["log"]
    b = json.dumps(r).encode()
    status, reply = post(store, b, d.sign(b))
    assert status == 400 and reply["error"]["message"] == 'report: "log": missing'
    ok = json.dumps(d.report(result="ok", **{"failed-step": "health"})).encode()
    status, reply = post(store, ok, d.sign(ok))
    assert status == 400 and '"failed-step"' in reply["error"]["message"]
    # none of that was stored
    assert len(pub.reports()) == 1
    assert store.sql("SELECT count(*) FROM device_keys") == [("1",)]


def test_only_owner_and_collaborators_read_reports(pub):
    store = pub.store
    bob = store.account("bob")
    carol = store.account("carol")
    pub.ferry("collaborators", "add", "hello", "carol")
    d = Device()
    body = json.dumps(d.report()).encode()
    assert post(store, body, d.sign(body))[0] == 201
    p = pub.ferry("reports", "hello", token=bob, check=1)
    assert p.stderr == "ferry: reports hello: account bob may not publish hello\n"
    status, reply = store.api("GET", "/v1/packages/hello/reports", token=bob)
    assert status == 403
    status, reply = store.api("GET", "/v1/packages/hello/reports")
    assert status == 401
    assert len(json.loads(pub.ferry("reports", "hello", "--json", token=carol).stdout)) == 1
    status, reply = store.api("GET", "/v1/packages/hello/reports?limit=0", token=carol)
    assert status == 400 and "limit" in reply["error"]["message"]


def test_retention_bound(store):
    store.start(args=["--reports-keep", "5"])
    pub = Publisher(store)
    d = Device()
    for i in range(8):
        r = d.report(**{"to-revision": i + 1, "from-revision": None})
        b = json.dumps(r).encode()
        assert post(store, b, d.sign(b))[0] == 201
    kept = [r["to-revision"] for r in pub.reports()]
    assert kept == [8, 7, 6, 5, 4]
    assert store.sql("SELECT count(*) FROM reports") == [("5",)]
    # a device whose reports were all pruned keeps its key binding
    # (test_device_keys.py: how bindings are bounded)
    others = [Device() for _ in range(5)]
    for o in others:
        b = json.dumps(o.report()).encode()
        assert post(store, b, o.sign(b))[0] == 201
    assert sorted(r[0] for r in store.sql("SELECT device FROM device_keys")) == sorted(
        [d.id] + [o.id for o in others])
    assert store.sql("SELECT count(*) FROM reports") == [("5",)]


def revert_while_the_store_is_down(pub, dev, work):
    """Install 1.0, refresh to 2.0 (both reported), stop the store and
    revert: the revert's report waits in the outbox. Returns the store's port."""
    pub.push(build_package(work, version="1.0"))
    dev.ferry("install", "hello")
    pub.push(build_package(work, version="2.0"))
    dev.ferry("refresh", "hello")
    wait_for("two reports", lambda: len(pub.reports()) == 2)
    port = pub.store.port
    pub.store.kill()
    # a revert needs no store; its report waits in the outbox
    dev.ferry("revert", "hello")
    wait_for("a failed attempt", lambda: "not sent" in dev.logtext())
    return port


def test_reports_wait_for_a_store_that_is_down(pub, dev, tmp_path):
    port = revert_while_the_store_is_down(pub, dev, str(tmp_path))
    queued = outbox(dev)
    assert len(queued) == 1 and queued[0][1] >= 1
    # it stays there across a restart of ferryd
    assert dev.stop() == 0
    dev.start()
    assert [row[0] for row in outbox(dev)] == [queued[0][0]]
    pub.store.start(port=port)
    got = wait_for("the revert's report", lambda: len(pub.reports()) == 3 and pub.reports())
    assert (got[0]["from-revision"], got[0]["to-revision"], got[0]["result"]) == (2, 1, "ok")
    wait_for("an empty outbox", lambda: outbox(dev) == [])
