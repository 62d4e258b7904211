"""Device-key bindings in the store (SQLite and PostgreSQL). A device id
stays bound to the key it first reported with however many of its reports
are pruned, so a flood of invented ids cannot free a real device's id for
someone else's key (and the device's own reports refused); a binding
expires only when its device has not reported for --device-key-days; the
table is bounded (--device-keys-max), evicting devices seen once first and
never a recent one; new bindings are limited per client address
(--device-binds-per-hour); a store at schema version 4 migrates."""
import json
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

from storelib import backend, postgres, store  # noqa: F401 (fixtures)
from test_reports import Device, Publisher, post
from test_halt import V6_COLUMNS

DAY = 86400


def send(store, d, **over):
    body = json.dumps(d.report(**over)).encode()
    return post(store, body, d.sign(body))


def write_sql(store, queries):
    """Run statements that change the database (committed)."""
    if store.backend == "postgresql":
        for q in queries:
            store.sql(q)
        return
    con = sqlite3.connect(os.path.join(store.dir, "store.db"), timeout=30)
    with con:
        for q in queries:
            con.execute(q)
    con.close()


def bound(store):
    return sorted(r[0] for r in store.sql("SELECT device FROM device_keys"))


def test_a_flood_of_invented_ids_cannot_take_a_device_id(store):
    store.start(args=["--reports-keep", "5"])
    Publisher(store)
    real = Device()
    assert send(store, real)[0] == 201
    assert send(store, real)[0] == 201
    # invented devices push the real one's reports out of retention
    for _ in range(10):
        assert send(store, Device())[0] == 201
    assert store.sql(f"SELECT count(*) FROM reports WHERE device = '{real.id}'") == [("0",)]
    # its id is still bound to its key: another key is refused
    thief = Device(real.id)
    status, reply = send(store, thief)
    assert status == 403 and reply["error"]["code"] == "device-key-mismatch", reply
    assert real.id in reply["error"]["message"]
    # and the real device's own reports are still taken
    status, reply = send(store, real)
    assert status == 201, reply
    assert store.sql(f"SELECT public_key FROM device_keys WHERE device = '{real.id}'") == [
        (real.public,)]
    assert store.stop() == 0, store.read_log()


def test_a_device_is_never_refused_while_a_flood_prunes_its_reports(store):
    """Reports of a known device racing reports that prune its last one:
    the binding is never seen missing (a spurious device-key-mismatch)."""
    store.start(args=["--reports-keep", "1"])
    Publisher(store)
    real = Device()
    assert send(store, real)[0] == 201

    def flood(_):
        return [send(store, Device())[0] for _ in range(20)]

    with ThreadPoolExecutor(4) as pool:
        floods = [pool.submit(flood, i) for i in range(3)]
        mine = [send(store, real) for _ in range(30)]
        assert all(s == 201 for f in floods for s in f.result())
    assert [s for s, _ in mine] == [201] * 30, [r for s, r in mine if s != 201]
    assert store.stop() == 0, store.read_log()


def test_bindings_expire_and_the_table_is_bounded(store):
    store.start(args=["--device-keys-max", "4", "--device-key-days", "180"])
    Publisher(store)
    now = int(time.time())
    old_twice, old_once, recent_once, recent_twice = (Device() for _ in range(4))
    for d, times in ((old_twice, 2), (old_once, 1), (recent_once, 1), (recent_twice, 2)):
        for _ in range(times):
            assert send(store, d)[0] == 201
    # seen once 35 days ago goes before seen twice 40 days ago; a device
    # seen within 30 days never goes
    write_sql(store, [
        f"UPDATE device_keys SET last_seen = {now - 40 * DAY} WHERE device = '{old_twice.id}'",
        f"UPDATE device_keys SET last_seen = {now - 35 * DAY} WHERE device = '{old_once.id}'"])
    first, second, third = Device(), Device(), Device()
    assert send(store, first)[0] == 201
    assert bound(store) == sorted([old_twice.id, recent_once.id, recent_twice.id, first.id])
    assert send(store, second)[0] == 201
    assert bound(store) == sorted([recent_once.id, recent_twice.id, first.id, second.id])
    # full of recent devices: a new one waits (ferryd retries a 503)
    status, reply = send(store, third)
    assert status == 503 and reply["error"]["code"] == "device-keys-full", reply
    assert bound(store) == sorted([recent_once.id, recent_twice.id, first.id, second.id])
    # known devices still report when the table is full
    assert send(store, recent_twice)[0] == 201
    # a binding not used for --device-key-days expires: room for the new one
    write_sql(store, [f"UPDATE device_keys SET last_seen = {now - 181 * DAY} "
                      f"WHERE device = '{recent_once.id}'"])
    assert send(store, third)[0] == 201
    assert bound(store) == sorted([recent_twice.id, first.id, second.id, third.id])
    counts = dict(store.sql("SELECT device, reports FROM device_keys"))
    assert counts[recent_twice.id] == "3" and counts[third.id] == "1"
    assert store.stop() == 0, store.read_log()


def test_new_devices_are_limited_per_client_address(store):
    store.start(args=["--device-binds-per-hour", "3"])
    Publisher(store)
    devices = [Device() for _ in range(3)]
    for d in devices:
        assert send(store, d)[0] == 201
    status, reply = send(store, Device())
    assert status == 429 and reply["error"]["code"] == "too-many-new-devices", reply
    assert len(bound(store)) == 3
    # devices the store knows are not limited
    for d in devices:
        assert send(store, d)[0] == 201
    assert store.stop() == 0, store.read_log()


def test_settings_are_checked(store):
    for args, what in [(["--device-key-days", "0"], "--device-key-days: expected 1 to"),
                       (["--device-keys-max", "x"], "--device-keys-max: expected 1 to"),
                       (["--device-binds-per-hour", "-1"], "--device-binds-per-hour"),
                       (["--conn-timeout", "601"], "--conn-timeout: expected 1 to 600"),
                       (["--max-connections", "0"], "--max-connections: expected 1 to"),
                       (["--max-connections-per-ip", "1e3"], "--max-connections-per-ip")]:
        p = store.admin("serve", "--listen", "127.0.0.1:1", *args, check=2)
        assert what in p.stderr, (args, p.stderr)


def test_a_store_at_schema_version_4_migrates(store):
    """Bindings made before version 5 keep their keys; one whose last report
    came after its first counts as seen more than once."""
    store.start()
    Publisher(store)
    twice, once = Device(), Device()
    assert send(store, twice)[0] == 201
    assert send(store, once)[0] == 201
    assert store.stop() == 0, store.read_log()
    write_sql(store, V6_COLUMNS + [
                      "DROP INDEX device_keys_last_seen", "DROP INDEX device_keys_evict",
                      "ALTER TABLE device_keys DROP COLUMN reports",
                      f"UPDATE device_keys SET first_seen = first_seen - 100 "
                      f"WHERE device = '{twice.id}'",
                      "UPDATE schema_version SET version = 4"])
    p = store.admin("serve", "--listen", "127.0.0.1:1", check=1)
    assert "version 4" in p.stderr
    p = store.admin("migrate")
    assert p.stdout == "database schema migrated from version 4 to 7\n"
    assert dict(store.sql("SELECT device, reports FROM device_keys")) == {twice.id: "2",
                                                                          once.id: "1"}
    store.start()
    status, reply = send(store, Device(twice.id))
    assert status == 403 and reply["error"]["code"] == "device-key-mismatch", reply
    assert send(store, twice)[0] == 201
    assert send(store, once)[0] == 201
    assert store.stop() == 0, store.read_log()
