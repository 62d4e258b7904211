"""The store halts a release by itself when the devices that took it report
failures (SQLite and PostgreSQL): below the threshold nothing happens;
crossing it withdraws a progressive revision, or puts the channel back to
the revision it held before a full release (closed when it held none), in
the channel map that devices read (fetched here with ferry-tuf-client);
`ferry status` shows the halt until the next release on that channel;
thresholds per store and per release, 0 (or --no-halt) turning it off;
reports for anything but the channel's released revisions never halt;
concurrent reports halt once; stores at older schema versions migrate."""
import hashlib
import json
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import run
from storelib import SCHEMA_LATEST, backend, make_image, postgres, store  # noqa: F401 (fixtures)
from test_reports import Device, Publisher, post


class Rollout:
    """A publisher with hello 1.0 (revision 1) on latest/stable and 2.0
    (revision 2) pushed, and devices that report as signed here."""

    def __init__(self, store, tmp_path, args=()):
        store.start(args=list(args))
        self.store = store
        self.tmp = tmp_path
        self.pub = Publisher(store)
        store.owner_tokens["alice"] = self.pub.token
        self.pub.push(make_image(tmp_path, version="1.0"))
        out = self.pub.ferry("push", make_image(tmp_path, version="2.0")).stdout
        assert "revision 2" in out
        out = self.pub.ferry("push", make_image(tmp_path, version="3.0")).stdout
        assert "revision 3" in out
        self.fetches = 0

    def release(self, *args, check=0):
        return self.pub.ferry("release", "hello", *args, check=check)

    def report(self, result, device=None, **over):
        d = device or Device()
        fields = {"result": result, "from-revision": 1, "to-revision": 2}
        if result == "ok":
            fields.update({"failed-step": None, "message": "", "log": []})
        fields.update(over)
        body = json.dumps(d.report(**fields)).encode()
        status, reply = post(self.store, body, d.sign(body))
        assert status == 201, reply
        return d

    def status(self):
        return json.loads(self.pub.ferry("status", "hello", "--json").stdout)

    def status_text(self):
        return self.pub.ferry("status", "hello").stdout

    def stable(self, status=None):
        m = status or self.status()
        return [c for c in m["channels"] if c["channel"] == "latest/stable"][0]

    def device_map(self):
        """The channel map as a device reads it: through TUF, trusting only
        the first root."""
        self.fetches += 1
        meta = self.tmp / f"meta-{self.fetches}"
        tdir = self.tmp / f"targets-{self.fetches}"
        meta.mkdir()
        tdir.mkdir()
        run("ferry-tuf-client", "--metadata-dir", meta, "init", self.pub.root_json, check=0)
        prefix = hashlib.sha256(b"hello").hexdigest()[:4]
        run("ferry-tuf-client", "--metadata-url", f"{self.store.url}/repo/metadata",
            "--metadata-dir", meta, "--target-dir", tdir, "--target-base-url",
            f"{self.store.url}/repo/targets", "--target-name",
            f"{prefix}/hello/channels.json", "download", check=0)
        got = [f for f in os.listdir(tdir) if "channels.json" in f]
        return json.load(open(tdir / got[0]))

    def halts(self):
        return self.store.sql("SELECT channel, revision, failed, reporting, cleared "
                              "FROM halts ORDER BY id")


# what schema version 9 added (deltas_schema.h), dropped to make an older store
V9_DELTAS = ["DROP TABLE deltas",
             "ALTER TABLE reports DROP COLUMN download",
             "ALTER TABLE reports DROP COLUMN downloaded",
             "ALTER TABLE reports DROP COLUMN saved"]
# what schema version 8 added (reports_schema.h), and 9 on top of it
V8_COLUMNS = V9_DELTAS + ["ALTER TABLE reports DROP COLUMN action"]
# what schema version 7 added (rollout_schema.h), and 8 on top of it
V7_TABLES = V8_COLUMNS + ["DROP TABLE rollouts", "DROP TABLE rollout_events", "DROP TABLE device_packages",
             "DROP TABLE devices", "ALTER TABLE webhook_deliveries DROP COLUMN event"]
# what schema version 6 added (halt_schema.h), and 7 on top of it
V6_COLUMNS = V7_TABLES + ["ALTER TABLE channels DROP COLUMN previous_revision",
              "ALTER TABLE channels DROP COLUMN full_after",
              "ALTER TABLE channels DROP COLUMN full_halt_failures",
              "ALTER TABLE channels DROP COLUMN full_halt_ratio",
              "ALTER TABLE halts DROP COLUMN kind",
              "ALTER TABLE halts DROP COLUMN restored"]


def run_sql(store, statements):
    """Statements on a stopped store's database, in one transaction."""
    if store.backend == "postgresql":
        for q in statements:
            store.sql(q)
    else:
        con = sqlite3.connect(os.path.join(store.dir, "store.db"), timeout=30)
        with con:
            for q in statements:
                con.execute(q)
        con.close()


def migrate_from(store, version, downgrade):
    """Take a stopped store down to an older schema version, check that
    serve refuses it and migrate refreshes it, and start it again."""
    run_sql(store, downgrade)
    p = store.admin("serve", "--listen", "127.0.0.1:1", check=1)
    assert f"version {version}" in p.stderr
    p = store.admin("migrate")
    assert p.stdout == f"database schema migrated from version {version} to {SCHEMA_LATEST}\n"
    store.start()


def stable_of(cmap):
    return [c for c in cmap["channels"] if c["channel"] == "latest/stable"][0]


def test_failing_devices_halt_a_progressive_release(store, tmp_path):
    r = Rollout(store, tmp_path)
    out = r.release("2", "stable", "--progressive", "10").stdout
    assert "for 10% of devices" in out
    assert stable_of(r.device_map())["progressive"]["revision"] == 2

    # two devices fine, two failing: fewer than 3 failing devices, nothing happens
    r.report("ok")
    r.report("ok")
    r.report("rolled-back")
    failing = r.report("failed", **{"failed-step": "install"})
    # the same device failing again is still one device
    r.report("failed", device=failing, **{"failed-step": "install"})
    st = r.status()
    assert st["halts"] == []
    assert r.stable(st)["progressive"]["revision"] == 2
    assert "halted" not in r.status_text()
    assert r.halts() == []

    # a third failing device (knowing the channel by its short name): 3 of 5, halted
    r.report("rolled-back", channel="stable")
    st = r.status()
    assert r.stable(st)["progressive"] is None
    assert r.stable(st)["revision"] == 1
    [h] = st["halts"]
    assert (h["channel"], h["revision"], h["failed"], h["reporting"]) == (
        "latest/stable", 2, 3, 5)
    assert (h["halt-failures"], h["halt-ratio"]) == (3, 20)
    text = r.status_text()
    assert "latest/stable: progressive release of revision 2 halted: 3 of 5 devices " \
           "failed at 20" in text, text

    # devices read a map without the progressive revision
    cmap = r.device_map()
    assert stable_of(cmap)["progressive"] is None
    assert stable_of(cmap)["revision"] == 1
    assert "2" not in cmap["revisions"]
    store.check_consistent()
    assert "halted the progressive release of hello revision 2" in store.read_log()

    # later failures of the withdrawn revision change nothing: one halt
    r.report("failed", **{"failed-step": "health"})
    assert len(r.halts()) == 1
    assert r.status()["halts"] == [h]

    # a full release on the channel works and ends the note
    r.release("2", "stable")
    st = r.status()
    assert st["halts"] == []
    assert r.stable(st)["revision"] == 2
    assert "halted" not in r.status_text()
    assert stable_of(r.device_map())["revision"] == 2
    [(ch, rev, failed, reporting, cleared)] = r.halts()
    assert (ch, rev, failed, reporting) == ("latest/stable", "2", "3", "5") and cleared
    store.check_consistent()
    assert store.stop() == 0, store.read_log()


def test_thresholds_of_the_store_and_of_a_release(store, tmp_path):
    # the store halts nothing with --halt-failures 0
    r = Rollout(store, tmp_path, ["--halt-failures", "0"])
    r.release("2", "stable", "--progressive", "50")
    for _ in range(4):
        r.report("failed", **{"failed-step": "install"})
    assert r.stable()["progressive"]["revision"] == 2
    assert r.status()["halts"] == []

    # a release's own thresholds win: 2 devices and 50% of those reporting
    r.release("3", "stable", "--progressive", "20", "--halt-failures", "2",
              "--halt-ratio", "50")
    for _ in range(3):
        r.report("ok", **{"to-revision": 3})
    r.report("failed", **{"to-revision": 3})
    r.report("failed", **{"to-revision": 3})  # 2 of 5: 40%, below 50%
    assert r.stable()["progressive"]["revision"] == 3
    assert r.status()["halts"] == []
    r.report("rolled-back", **{"to-revision": 3})  # 3 of 6: 50%
    st = r.status()
    assert r.stable(st)["progressive"] is None
    [h] = st["halts"]
    assert (h["revision"], h["failed"], h["reporting"], h["halt-failures"],
            h["halt-ratio"]) == (3, 3, 6, 2, 50)
    assert stable_of(r.device_map())["progressive"] is None

    # a new progressive release ends the note; the earlier failures of the
    # same revision no longer count towards it
    r.release("3", "stable", "--progressive", "10", "--halt-failures", "1")
    assert r.status()["halts"] == []
    r.report("ok", **{"to-revision": 3})
    assert r.stable()["progressive"]["revision"] == 3
    r.report("failed", **{"to-revision": 3})
    assert r.stable()["progressive"] is None
    assert r.status()["halts"][0]["failed"] == 1
    store.check_consistent()
    assert store.stop() == 0, store.read_log()


def test_a_release_can_turn_halting_off(store, tmp_path):
    r = Rollout(store, tmp_path)
    r.release("2", "stable", "--progressive", "10", "--halt-failures", "0")
    for _ in range(5):
        r.report("rolled-back")
    assert r.stable()["progressive"]["revision"] == 2
    assert r.status()["halts"] == []
    assert r.halts() == []


def test_reports_for_other_revisions_never_halt(store, tmp_path):
    r = Rollout(store, tmp_path)
    r.release("2", "stable", "--progressive", "10")
    r.release("3", "beta", "--no-halt")
    # failures of a channel released with --no-halt, of channels holding
    # nothing, of a revision the channel does not release
    for _ in range(4):
        r.report("failed", channel="latest/beta", **{"to-revision": 3})
        r.report("failed", channel="latest/edge")
        r.report("failed", channel="latest/stable/hotfix")
        r.report("failed", **{"to-revision": 3})
    assert r.stable()["progressive"]["revision"] == 2
    assert r.status()["halts"] == []
    # a full release of 2 with --no-halt: its failures are the publisher's call
    r.release("2", "stable", "--no-halt")
    for _ in range(4):
        r.report("failed")
    assert r.stable()["revision"] == 2
    assert r.status()["halts"] == []
    assert r.halts() == []
    store.check_consistent()


def test_failing_devices_halt_a_full_release(store, tmp_path):
    r = Rollout(store, tmp_path)
    r.release("2", "stable")
    assert stable_of(r.device_map())["revision"] == 2

    # below the threshold (2 failing devices of 3): nothing happens
    r.report("ok")
    r.report("rolled-back")
    r.report("failed", **{"failed-step": "install"})
    st = r.status()
    assert st["halts"] == [] and r.stable(st)["revision"] == 2

    # a third failing device: 3 of 4, the channel goes back to revision 1
    r.report("rolled-back", channel="stable")
    st = r.status()
    assert r.stable(st)["revision"] == 1
    assert r.stable(st)["progressive"] is None
    [h] = st["halts"]
    assert (h["kind"], h["channel"], h["revision"], h["failed"], h["reporting"],
            h["restored"], h["halt-failures"], h["halt-ratio"]) == (
        "full", "latest/stable", 2, 3, 4, 1, 3, 20)
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(h["time"]))
    text = r.status_text()
    assert (f"latest/stable: full release of revision 2 halted: 3 of 4 devices failed at "
            f"{when}; back to revision 1\n") in text, text
    assert "halted the full release of hello revision 2 on latest/stable" in store.read_log()

    # new devices read a map that gives them revision 1, signed
    cmap = r.device_map()
    assert stable_of(cmap)["revision"] == 1
    assert "2" not in cmap["revisions"]
    store.check_consistent()

    # later failures of 2, and failures of the revision gone back to, change nothing
    r.report("failed")
    for _ in range(4):
        r.report("failed", **{"to-revision": 1, "from-revision": 2})
    assert len(r.halts()) == 1 and r.stable()["revision"] == 1

    # the next release clears the note, and counts anew: the three earlier
    # failures of revision 2 no longer count
    r.release("2", "stable")
    st = r.status()
    assert st["halts"] == [] and r.stable(st)["revision"] == 2
    assert "halted" not in r.status_text()
    r.report("failed")
    r.report("failed")
    assert r.stable()["revision"] == 2 and r.status()["halts"] == []
    [(ch, rev, failed, reporting, cleared)] = r.halts()
    assert (ch, rev, failed, reporting) == ("latest/stable", "2", "3", "4") and cleared
    store.check_consistent()
    assert store.stop() == 0, store.read_log()


def test_a_halted_first_release_closes_the_channel(store, tmp_path):
    """beta held nothing before revision 3 (it followed stable): halted, it
    follows stable again."""
    r = Rollout(store, tmp_path)
    r.release("3", "beta")
    beta = [c for c in r.status()["channels"] if c["channel"] == "latest/beta"][0]
    assert (beta["revision"], beta["follows"]) == (3, None)
    for _ in range(3):
        r.report("rolled-back", channel="latest/beta", **{"to-revision": 3})
    st = r.status()
    beta = [c for c in st["channels"] if c["channel"] == "latest/beta"][0]
    assert (beta["revision"], beta["follows"]) == (1, "latest/stable")
    [h] = st["halts"]
    assert (h["kind"], h["channel"], h["revision"], h["restored"]) == (
        "full", "latest/beta", 3, None)
    assert "latest/beta: full release of revision 3 halted: 3 of 3 devices failed at " \
           in r.status_text()
    assert "; closed, it held no revision before" in r.status_text()
    cbeta = [c for c in r.device_map()["channels"] if c["channel"] == "latest/beta"][0]
    assert (cbeta["revision"], cbeta["follows"]) == (1, "latest/stable")
    store.check_consistent()
    assert store.stop() == 0, store.read_log()


def test_thresholds_and_opt_out_of_a_full_release(store, tmp_path):
    r = Rollout(store, tmp_path)
    # its own thresholds: 1 device and 50 % of those reporting
    r.release("2", "stable", "--halt-failures", "1", "--halt-ratio", "50")
    r.report("ok")
    r.report("ok")
    r.report("failed")  # 1 of 3
    assert r.stable()["revision"] == 2
    r.report("failed")  # 2 of 4
    [h] = r.status()["halts"]
    assert (h["kind"], h["failed"], h["reporting"], h["halt-failures"],
            h["halt-ratio"]) == ("full", 2, 4, 1, 50)
    assert r.stable()["revision"] == 1

    # --no-halt (the same as --halt-failures 0) for this release to this channel
    r.release("2", "stable", "--no-halt")
    for _ in range(5):
        r.report("rolled-back")
    assert r.stable()["revision"] == 2 and r.status()["halts"] == []
    p = r.release("3", "stable", "--no-halt", "--halt-failures", "2", check=1)
    assert "--no-halt and --halt-failures or --halt-ratio contradict" in p.stderr
    # the next release without it is halted by the store's rule again
    r.release("3", "stable")
    for _ in range(3):
        r.report("failed", **{"to-revision": 3, "from-revision": 2})
    [h] = r.status()["halts"]
    assert (h["revision"], h["restored"]) == (3, 2)
    assert r.stable()["revision"] == 2

    # the store's --halt-failures 0 halts no full release either
    assert store.stop() == 0, store.read_log()
    store.start(args=["--halt-failures", "0"])
    r.release("3", "stable")
    for _ in range(4):
        r.report("failed", **{"to-revision": 3, "from-revision": 2})
    assert r.stable()["revision"] == 3


def test_completing_a_progressive_release_keeps_its_count(store, tmp_path):
    r = Rollout(store, tmp_path)
    r.release("3", "stable", "--progressive", "10")
    r.report("failed", **{"to-revision": 3})
    r.report("failed", **{"to-revision": 3})
    assert r.stable()["progressive"]["revision"] == 3
    r.release("3", "stable")  # 2 failing devices counted already
    assert r.stable()["revision"] == 3
    r.report("failed", **{"to-revision": 3})
    [h] = r.status()["halts"]
    assert (h["kind"], h["revision"], h["failed"], h["restored"]) == ("full", 3, 3, 1)
    assert stable_of(r.device_map())["revision"] == 1
    store.check_consistent()


@pytest.mark.parametrize("kind", ["progressive", "full"])
def test_concurrent_failures_halt_once(store, tmp_path, kind):
    r = Rollout(store, tmp_path)
    r.release("2", "stable", *(["--progressive", "30"] if kind == "progressive" else []))
    devices = [Device() for _ in range(12)]
    with ThreadPoolExecutor(max_workers=6) as ex:
        list(ex.map(lambda d: r.report("rolled-back", device=d), devices))
    assert len(r.halts()) == 1
    [h] = r.status()["halts"]
    assert 3 <= h["failed"] <= 12 and h["failed"] == h["reporting"]
    assert h["kind"] == kind
    assert r.stable()["progressive"] is None and r.stable()["revision"] == 1
    store.check_consistent()
    assert store.stop() == 0, store.read_log()


def test_threshold_options_are_checked(store, tmp_path):
    r = Rollout(store, tmp_path)
    p = r.release("2", "stable", "--progressive", "10", "--halt-ratio", "101", check=2)
    assert "--halt-ratio: expected a percentage from 0 to 100" in p.stderr
    p = r.release("2", "stable", "--progressive", "10", "--halt-failures", "-1", check=2)
    assert "--halt-failures" in p.stderr
    token = r.pub.token
    for body, what in [
            ({"revision": 2, "channels": ["stable"], "halt-ratio": -1}, "halt-ratio"),
            ({"revision": 2, "channels": ["stable"], "progressive": 10, "halt-ratio": "5"},
             "halt-ratio"),
            ({"revision": 2, "channels": ["stable"], "progressive": 10,
              "halt-failures": 10 ** 7}, "halt-failures")]:
        status, reply = store.api("POST", "/v1/packages/hello/release", body, token=token)
        assert status == 400 and what in reply["error"]["message"], reply
    assert r.stable()["revision"] == 1 and r.stable()["progressive"] is None
    for bad in (["--halt-ratio", "200"], ["--halt-failures", "x"]):
        p = run("ferry-store", "serve", "--dir", store.dir, *bad, check=2)
        assert bad[0] in p.stderr


def test_a_store_at_schema_version_3_migrates(store, tmp_path):
    """A progressive release made before version 4 (no thresholds of its
    own, no start recorded) is halted by the store's rule after migrating."""
    r = Rollout(store, tmp_path)
    r.release("2", "stable", "--progressive", "10")
    assert store.stop() == 0, store.read_log()
    downgrade = V6_COLUMNS + [
                 "DROP INDEX device_keys_last_seen", "DROP INDEX device_keys_evict",
                 "ALTER TABLE device_keys DROP COLUMN reports",
                 "DROP TABLE halts",
                 "ALTER TABLE channels DROP COLUMN halt_failures",
                 "ALTER TABLE channels DROP COLUMN halt_ratio",
                 "ALTER TABLE channels DROP COLUMN progressive_after",
                 "UPDATE schema_version SET version = 3"]
    migrate_from(store, 3, downgrade)
    for _ in range(3):
        r.report("failed", **{"failed-step": "install"})
    [h] = r.status()["halts"]
    assert (h["revision"], h["failed"], h["reporting"]) == (2, 3, 3)
    assert stable_of(r.device_map())["progressive"] is None
    store.check_consistent()
    assert store.stop() == 0, store.read_log()


def test_a_store_at_schema_version_5_migrates(store, tmp_path):
    """A full release made before version 6 (what it replaced unknown) is not
    halted after migrating; the next full release is."""
    r = Rollout(store, tmp_path)
    r.release("2", "stable")
    assert store.stop() == 0, store.read_log()
    migrate_from(store, 5, V6_COLUMNS + ["UPDATE schema_version SET version = 5"])
    for _ in range(4):
        r.report("failed")
    assert r.stable()["revision"] == 2 and r.status()["halts"] == []
    r.release("3", "stable")
    for _ in range(3):
        r.report("failed", **{"to-revision": 3, "from-revision": 2})
    [h] = r.status()["halts"]
    assert (h["kind"], h["revision"], h["restored"]) == ("full", 3, 2)
    assert stable_of(r.device_map())["revision"] == 2
    store.check_consistent()
    assert store.stop() == 0, store.read_log()
