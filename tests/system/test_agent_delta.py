"""ferryd refreshes through deltas the store made and signed: the delta is
downloaded, verified, applied into images/ and the result checked against the
image's signed hash; `ferry changes --json` says which path the download took
and the bytes saved. Blocks that the device's compressor builds otherwise
(forced by a fault point) are fetched with HTTP Range; a corrupted delta is
refused before use and the full image downloaded instead; a device killed
during the apply still runs its old revision and refreshes on the next try;
a delta from a revision the device does not hold (here: a local one) is
never used. Every test runs on both store backends, SQLite and PostgreSQL."""
import glob
import json
import os
import random
import time

import pytest

import test_agent_store
from device import Agent, build_package
from storelib import backend, postgres, store  # noqa: F401 (fixtures)


class Publisher(test_agent_store.Publisher):
    """The store of test_agent_store, waiting for the deltas it makes."""

    def wait_delta(self, frm, to, timeout=180):
        deadline = time.time() + timeout
        while time.time() < deadline:
            rows = self.store.sql(f"SELECT state, published, size FROM deltas WHERE "
                                  f"from_rev = {frm} AND to_rev = {to}")
            if rows and (rows[0][0] != "kept" or rows[0][1] == "1"):
                assert rows[0][0] == "kept", rows
                # the publication is done once timestamp names it: give it a moment
                time.sleep(1)
                return int(rows[0][2])
            time.sleep(0.3)
        raise AssertionError(f"no delta {frm}->{to}:\n{self.store.read_log()}")


@pytest.fixture
def pub(tmp_path, store):  # noqa: F811 (storelib's fixture, one per backend)
    p = Publisher(tmp_path, store)
    yield p
    p.stop()


def ready_for_a_delta(pub, tmp_path):
    """A device on revision 1, and revision 2 released with its delta made:
    (the device, revision 2's image)."""
    v1, v2 = versions(str(tmp_path))
    pub.push(v1, "stable")
    dev = start_device(pub)
    try:
        dev.ferry("install", "hello")
        pub.push(v2, "stable")
        pub.wait_delta(1, 2)
    except BaseException:
        stop(dev)
        raise
    return dev, v2


def start_device(pub, env=None):
    conf = {"store": pub.store.url, "trust": pub.root_json, "refresh-timer": "every 1h",
            "retry-delay": "100ms"}
    return Agent(config=conf).start(env=env)


_rng = random.Random(7)
PAYLOAD = bytes(_rng.choice(b"abcdefghijklmnop") for _ in range(600000))


def versions(work):
    v1 = build_package(work, version="1.0", files={"payload": (PAYLOAD.decode(), 0o644)})
    changed = PAYLOAD[:5000] + b"a small fix" + PAYLOAD[5000:]
    v2 = build_package(work, version="2.0", files={"payload": (changed.decode(), 0o644)})
    return v1, v2


def last_refresh(dev):
    changes = [c for c in dev.json("changes", "--json") if c.get("to") == "2"]
    assert changes, dev.json("changes", "--json")
    return changes[-1]


def check_image(dev, v2):
    got = open(os.path.join(dev.root, "images/hello_2.ferry"), "rb").read()
    assert got == open(v2, "rb").read()
    assert not glob.glob(os.path.join(dev.root, "images/*.delta.*"))
    assert not glob.glob(os.path.join(dev.root, "images/.incoming/*"))


def stop(dev):
    status = dev.stop()
    log = dev.logtext()
    dev.cleanup()
    assert status == 0, log


def test_refresh_through_a_delta(pub, tmp_path):
    v1, v2 = versions(str(tmp_path))
    pub.push(v1, "stable")
    dev = start_device(pub)
    try:
        dev.ferry("install", "hello")
        pub.push(v2, "stable")
        size = pub.wait_delta(1, 2)
        p = dev.ferry("refresh", "hello")
        assert p.stdout.startswith("hello 2.0 (revision 2) refreshed")
        assert dev.check_invariant() == "2"
        d = last_refresh(dev)["download"]
        full = os.path.getsize(v2)
        assert d == {"path": "delta", "downloaded": size, "full": full, "saved": full - size}
        assert size < full / 10
        check_image(dev, v2)
        # the outcome report carries it to the store
        deadline = time.time() + 60
        while time.time() < deadline:
            rows = pub.store.sql("SELECT download, downloaded, saved FROM reports WHERE "
                                 "to_revision = 2")
            if rows:
                break
            time.sleep(0.3)
        assert rows == [("delta", str(size), str(full - size))]
        status, _, body = pub.store.request("GET", "/v1/packages/hello/reports",
                                            token=pub.token)
        assert status == 200, body
        rep = [r for r in json.loads(body)["reports"] if r["to-revision"] == 2]
        assert rep[0]["download"] == {"path": "delta", "downloaded": size,
                                      "saved": full - size}
        out = pub.ferry("reports", "hello")
        # the install downloaded revision 1 whole, the refresh a delta
        assert "Deltas: 1 of 2 downloads; " in out and f", {full - size} saved (" in out, out
        # and the channel map shows what the release's deltas saved
        out = pub.ferry("status", "hello")
        assert (f"revision 2: 1 of 1 downloads by delta; {size} bytes downloaded, "
                f"{full - size} saved (") in out, out
        status = json.loads(pub.ferry("status", "hello", "--json"))
        assert status["downloads"][0] == {"revision": 2, "downloads": 1, "deltas": 1,
                                          "downloaded": size, "saved": full - size}
    finally:
        stop(dev)


def test_compressor_mismatch_repaired_by_range_requests(pub, tmp_path):
    v1, v2 = versions(str(tmp_path))
    pub.push(v1, "stable")
    dev = start_device(pub, env={"FERRY_FAULT": "delta_apply.recompress"})
    try:
        dev.ferry("install", "hello")
        pub.push(v2, "stable")
        size = pub.wait_delta(1, 2)
        dev.ferry("refresh", "hello")
        assert dev.check_invariant() == "2"
        d = last_refresh(dev)["download"]
        full = os.path.getsize(v2)
        assert d["path"] == "delta"
        assert size < d["downloaded"] < full, d
        assert "bytes fetched" in dev.logtext()
        check_image(dev, v2)
    finally:
        stop(dev)


def test_corrupt_delta_refused_then_full_download(pub, tmp_path):
    dev, v2 = ready_for_a_delta(pub, tmp_path)
    try:
        for path in glob.glob(os.path.join(pub.store.dir, "repo", "published", "targets",
                                           "**", "*hello_1-2.delta"), recursive=True):
            data = bytearray(open(path, "rb").read())
            data[len(data) // 2] ^= 0xFF
            open(path, "wb").write(bytes(data))
        dev.ferry("refresh", "hello")
        assert dev.check_invariant() == "2"
        d = last_refresh(dev)["download"]
        assert d["path"] == "full" and d["saved"] == 0
        assert "does not match its signed length and hashes" in d["delta_error"]
        check_image(dev, v2)
    finally:
        stop(dev)


def test_kill_during_apply_keeps_the_old_revision(pub, tmp_path):
    dev, v2 = ready_for_a_delta(pub, tmp_path)
    try:
        dev.stop()
        dev.start(env={"FERRY_FAULT": "delta_apply.rebuilt", "FERRY_FAULT_ACTION": "kill"})
        dev.ferry_raw("refresh", "hello")
        dev.wait_exit()
        dev.start()
        assert dev.check_invariant() == "1"
        dev.ferry("refresh", "hello")
        assert dev.check_invariant() == "2"
        assert last_refresh(dev)["download"]["path"] == "delta"
        check_image(dev, v2)
    finally:
        stop(dev)


def test_delta_from_a_revision_not_held_is_never_used(pub, tmp_path):
    v1, v2 = versions(str(tmp_path))
    local = build_package(str(tmp_path / "local"), version="0.9",
                          files={"payload": (PAYLOAD.decode(), 0o644)})
    pub.push(v1, "stable")
    dev = start_device(pub)
    try:
        dev.ferry("install", local, "--dangerous")   # a local revision: x1
        pub.push(v2, "stable")
        pub.wait_delta(1, 2)
        dev.ferry("refresh", "hello", "--channel", "stable")
        assert dev.check_invariant() == "2"
        d = last_refresh(dev)["download"]
        assert d["path"] == "full" and "delta_error" not in d
        check_image(dev, v2)
    finally:
        stop(dev)
