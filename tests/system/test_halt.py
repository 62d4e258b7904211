"""The store halts a progressive release by itself when devices report it
failing: once at least --halt-failures distinct devices (default 3) that are
at least --halt-ratio percent (default 20) of those reporting on it rolled it
back, the progressive revision is withdrawn from its channel, the channel
map is published again, and `ferry status` says why. SQLite and
PostgreSQL."""
import json

import pytest

from device import build_package
from storelib import backend, postgres, store  # noqa: F401 (fixtures)
from test_reports import Device, Publisher, post


def report(store, device, rev, result, channel="latest/stable"):
    over = {"to-revision": int(rev), "from-revision": 1, "channel": channel,
            "result": result}
    if result == "ok":
        over["failed-step"] = None
        over["log"] = []
    body = json.dumps(device.report(**over)).encode()
    status, reply = post(store, body, device.sign(body))
    assert status == 201, reply


def stable(pub):
    st = json.loads(pub.ferry("status", "hello", "--json").stdout)
    entry = [c for c in st["channels"] if c["channel"] == "latest/stable"][0]
    return st, entry


@pytest.fixture
def rollout(store, tmp_path):
    """hello revision 1 on stable, revision 2 released to 30 % of it."""
    def start(*args):
        store.start(args=list(args))
        pub = Publisher(store)
        store.owner_tokens["alice"] = pub.token
        pub.push(build_package(str(tmp_path), version="1.0"))
        out = pub.ferry("push", build_package(str(tmp_path), version="2.0")).stdout
        rev = out.split("revision ")[1].split()[0]
        pub.ferry("release", "hello", rev, "stable", "--progressive", "30")
        return pub, rev
    return start


def test_failures_past_the_threshold_halt_the_release(rollout):
    pub, rev = rollout()
    store = pub.store
    # below the threshold: 2 failed of 5 (enough share, too few devices)
    for result in ["ok", "ok", "ok", "rolled-back", "failed"]:
        report(store, Device(), rev, result)
    st, entry = stable(pub)
    assert entry["progressive"]["revision"] == int(rev)
    assert st["halted"] == []
    # failures for another channel or revision never count here
    report(store, Device(), rev, "rolled-back", channel="latest/beta")
    report(store, Device(), 1, "rolled-back")
    assert stable(pub)[1]["progressive"]["revision"] == int(rev)

    report(store, Device(), rev, "rolled-back")  # 3 of 6 devices
    st, entry = stable(pub)
    assert entry["progressive"] is None and entry["revision"] == 1
    assert len(st["halted"]) == 1
    h = st["halted"][0]
    assert (h["channel"], h["revision"], h["failed"], h["reporting"]) == (
        "latest/stable", int(rev), 3, 6)
    text = pub.ferry("status", "hello").stdout
    assert (f"latest/stable: the progressive release of revision {rev} was halted at "
            in text and "3 of 6 reporting devices failed" in text), text
    # what devices download says the same: published at the new generation
    store.check_consistent()
    # more failure reports change nothing more
    report(store, Device(), rev, "rolled-back")
    assert len(stable(pub)[0]["halted"]) == 1

    # the publisher releases again: the note goes, the release stands
    pub.ferry("release", "hello", rev, "stable")
    st, entry = stable(pub)
    assert entry["revision"] == int(rev) and st["halted"] == []
    store.check_consistent()


def test_the_share_of_failures_matters(rollout):
    pub, rev = rollout()
    store = pub.store
    for _ in range(13):
        report(store, Device(), rev, "ok")
    for _ in range(3):
        report(store, Device(), rev, "rolled-back")  # 3 of 16 < 20 %
    assert stable(pub)[1]["progressive"]["revision"] == int(rev)
    report(store, Device(), rev, "rolled-back")  # 4 of 17 >= 20 %
    assert stable(pub)[1]["progressive"] is None


def test_halting_can_be_turned_off_and_tuned(rollout):
    pub, rev = rollout("--halt-failures", "0")
    for _ in range(5):
        report(pub.store, Device(), rev, "rolled-back")
    st, entry = stable(pub)
    assert entry["progressive"]["revision"] == int(rev) and st["halted"] == []


def test_one_failing_device_halts_when_told_so(rollout):
    pub, rev = rollout("--halt-failures", "1", "--halt-ratio", "100")
    report(pub.store, Device(), rev, "ok")
    report(pub.store, Device(), rev, "failed")  # 1 of 2: 50 % < 100 %
    assert stable(pub)[1]["progressive"]["revision"] == int(rev)


def test_a_full_release_is_never_halted(store, tmp_path):
    store.start()
    pub = Publisher(store)
    rev = pub.push(build_package(str(tmp_path), version="1.0"))
    for _ in range(5):
        report(store, Device(), rev, "rolled-back")
    st, entry = stable(pub)
    assert entry["revision"] == int(rev) and st["halted"] == []


@pytest.mark.parametrize("args,message", [
    (["--halt-failures", "x"], "--halt-failures: expected 0 (never) to 1000000 devices"),
    (["--halt-ratio", "0"], "--halt-ratio: expected a percentage from 1 to 100"),
    (["--halt-ratio", "101"], "--halt-ratio: expected a percentage from 1 to 100"),
])
def test_bad_settings_are_refused(store, args, message):
    p = store.admin("serve", *args, check=2)
    assert message in p.stderr
