"""Staged rollouts end to end (SQLite and PostgreSQL): real ferryd devices in
temporary roots refresh from a real ferry-store while the store moves a
release through its stages by itself: stage 1 -> 2 -> done when the
devices of each stage report it working; a failing revision halted at its
first stage with the channel left as it was for every other device;
pause, resume, stop and a release that supersedes a rollout; a webhook
received for each event, signed as notices are; the device inventory the
devices' check-ins fill; the devices that reported ok and rolled back
during each stage; finished rollouts pruned after --rollouts-days."""
import hashlib
import json
import subprocess
import time

from conftest import run
from device import build_package
from storelib import backend, postgres, store  # noqa: F401 (fixtures)
from test_device_keys import write_sql
from test_reports import Device, Publisher, device, post, wait_for
from vulnlib import Receiver, signature_ok

SECRET = b"rollout-hook-secret-0123456789"


def bucket(device_id, rev):
    """Where the store and ferryd place a device for a progressive release
    of hello (channel.h): below the percentage takes it."""
    h = hashlib.sha256(f"{device_id}/hello/{rev}".encode()).hexdigest()
    return int(h[:8], 16) % 100


def device_ids():
    """A: in the first 1 % of revisions 2 and 3; B: in 50 % of revision 2
    but not in 1 % of either."""
    a = next(f"dev-a-{i}" for i in range(10 ** 7)
             if bucket(f"dev-a-{i}", 2) < 1 and bucket(f"dev-a-{i}", 3) < 1)
    b = next(f"dev-b-{i}" for i in range(10 ** 5)
             if 1 <= bucket(f"dev-b-{i}", 2) < 50 and bucket(f"dev-b-{i}", 3) >= 1)
    return a, b


class Fleet:
    def __init__(self, store, tmp_path, rx):
        store.start(env={"FERRY_STORE_WEBHOOK_BACKOFF": "1"},
                    args=["--webhook-allow-private"])
        self.store = store
        self.work = str(tmp_path)
        self.pub = Publisher(store)
        secret = tmp_path / "secret"
        secret.write_bytes(SECRET)
        self.pub.ferry("webhooks", "add", "hello", rx.url, "--secret-file", str(secret))
        self.rx = rx

    def push(self, version, **kw):
        out = self.pub.ferry("push", build_package(self.work, version=version, **kw)).stdout
        return out.split("revision ")[1].split()[0]

    def rollout(self, *args):
        got = json.loads(self.pub.ferry("rollout", "hello", *args, "--json").stdout)
        return got["rollouts"]

    def only(self):
        r = self.rollout()
        assert len(r) == 1, r
        return r[0]

    def history(self):
        got = self.store.api("GET", "/v1/packages/hello/rollouts?all=1", token=self.pub.token)
        return got[1]["rollouts"]

    def stable(self):
        m = json.loads(self.pub.ferry("status", "hello", "--json").stdout)
        return [c for c in m["channels"] if c["channel"] == "latest/stable"][0]

    def events(self):
        """The release events received, each checked for its signature."""
        out = []
        for r in self.rx.received():
            h = {k.lower(): v for k, v in r["headers"].items()}
            assert signature_ok(SECRET, r["body"], h.get("x-ferry-signature"))
            body = json.loads(r["body"])
            assert h["x-ferry-event"] == body["event"]
            out.append(body)
        return out

    def event_names(self):
        return [(e["event"], e.get("state")) for e in self.events()]


def test_staged_rollout_moves_on_success_and_halts_a_failing_revision(store, tmp_path):
    a_id, b_id = device_ids()
    with Receiver() as rx:
        f = Fleet(store, tmp_path, rx)
        f.pub.push(build_package(f.work, version="1.0"))
        a = device(f.pub, **{"device-id": a_id}).start()
        b = device(f.pub, **{"device-id": b_id}).start()
        try:
            a.ferry("install", "hello")
            b.ferry("install", "hello")
            assert f.push("2.0") == "2"
            p = f.pub.ferry("release", "hello", "2", "stable", "--stages", "1,50,100",
                            "--stage-wait", "5s")
            assert "rollout 1 of revision 2 on latest/stable: running, stage 1 of 3 (1%)" \
                in p.stdout
            r = f.only()
            assert (r["stage"], r["percentage"], r["stages"]) == (0, 1, [1, 50, 100])
            assert r["stage-wait"] == 5 and r["stage-min-ok"] == 1
            assert f.stable()["progressive"]["percentage"] == 1

            # stage 1: A takes it and reports ok; B is not chosen yet
            assert a.ferry("refresh", "hello").stdout.startswith("hello 2.0 (revision 2)")
            assert "up to date (revision 1" in b.ferry("refresh", "hello").stdout
            # both checked in after their refresh: the inventory knows them
            inv = wait_for("two check-ins", lambda: (
                lambda d: d["weekly-active"]["by-revision"] == [
                    {"revision": 2, "devices": 1}, {"revision": 1, "devices": 1}] and d)(
                json.loads(f.pub.ferry("devices", "hello", "--json").stdout)))
            assert inv["weekly-active"]["total"] == 2
            assert inv["weekly-active"]["by-channel"] == [{"channel": "latest/stable",
                                                           "devices": 2}]
            assert inv["weekly-active"]["by-arch"] == [{"arch": "amd64", "devices": 2}]
            rows = {d["device"]: d for d in inv["devices"]}
            assert rows[a_id]["revision"] == 2 and rows[b_id]["revision"] == 1
            assert rows[a_id]["agent-version"] == "0.1.0" and rows[a_id]["held"] is False
            text = f.pub.ferry("devices", "hello").stdout
            assert "hello: 2 weekly active devices" in text and b_id in text
            assert json.loads(f.pub.ferry("devices", "hello", "--not-seen", "1",
                                          "--json").stdout)["devices"] == []
            r = wait_for("stage 2", lambda: (lambda o: o["stage"] == 1 and o)(f.only()))
            # held at stage 2 while this test looks (the next stage is 5 s away)
            f.pub.ferry("rollout", "pause", "hello")
            assert r["percentage"] == 50 and r["counts"]["ok"] == 1
            # B is chosen now and has not reported: pending, or not seen when
            # its last check-in came before the stage began
            assert r["counts"]["not-seen"] + r["counts"]["pending"] == 1
            assert r["counts"]["outside"] == 0
            assert f.stable()["progressive"]["percentage"] == 50
            # stage 2: B now takes it; then the store completes the release
            assert b.ferry("refresh", "hello").stdout.startswith("hello 2.0 (revision 2)")
            f.pub.ferry("rollout", "resume", "hello")
            wait_for("the rollout done", lambda: f.rollout() == [])
            done = f.history()[0]
            assert done["state"] == "done" and done["percentage"] == 100
            assert done["counts"]["ok"] == 2 and done["counts"]["rolled-back"] == 0
            assert [e["event"] for e in done["events"]] == ["started", "stage", "paused",
                                                            "resumed", "stage", "done"]
            assert done["series"][-1]["ok"] == 2 and done["series"][-1]["percentage"] == 100
            st = f.stable()
            assert st["revision"] == 2 and st.get("progressive") is None
            wait_for("five events", lambda: len(f.events()) >= 5)
            assert f.event_names() == [("rollout-stage", "running"), ("rollout-paused", "paused"),
                                       ("rollout-resumed", "running"),
                                       ("rollout-stage", "running"),
                                       ("rollout-finished", "done")]

            # a failing revision: halted at its first stage, on A alone
            bad = f.push("3.0", hooks={"check-health": "echo 'no database'; exit 1"})
            assert bad == "3"
            f.pub.ferry("release", "hello", "3", "stable", "--stages", "1,50,100",
                        "--stage-wait", "1h", "--halt-failures", "1")
            r = f.only()
            assert r["waiting"]["reason"] == "stage-wait"
            assert "stage 1 of 3 (1 %) lasts until" in r["waiting"]["message"]
            a.ferry("refresh", "hello", check=1)
            assert a.check_invariant() == "2"
            wait_for("the halt", lambda: f.rollout() == [])
            halted = f.history()[0]
            assert halted["state"] == "halted" and halted["stage"] == 0
            assert halted["counts"]["rolled-back"] == 1
            assert halted["events"][-1]["event"] == "halted"
            assert halted["events"][-1]["failed"] == 1
            st = f.stable()
            assert st["revision"] == 2 and st.get("progressive") is None
            # the channel stays as it was for every other device
            time.sleep(3)
            assert "up to date (revision 2" in b.ferry("refresh", "hello").stdout
            assert f.stable()["revision"] == 2
            wait_for("the halt's events", lambda: len(f.events()) >= 7)
            names = f.event_names()[5:]
            assert ("release-halted", None) in names and ("rollout-finished", "halted") in names
            h = [e for e in f.events() if e["event"] == "release-halted"][0]
            assert (h["revision"], h["rollout"], h["kind"], h["failed"]) == (3, 2, "progressive", 1)
            assert h["channel"] == "latest/stable"
        finally:
            for d in (a, b):
                d.stop()
                d.cleanup()


def test_pause_resume_stop_and_supersede(store, tmp_path):
    with Receiver() as rx:
        f = Fleet(store, tmp_path, rx)
        f.pub.push(build_package(f.work, version="1.0"))
        f.push("2.0")
        f.pub.ferry("release", "hello", "2", "stable", "--stages", "10,20,100",
                    "--stage-wait", "6s", "--stage-min-ok", "0")
        p = f.pub.ferry("rollout", "pause", "hello")
        assert "running" not in p.stdout and "paused" in p.stdout
        assert "waiting: the rollout is paused" in p.stdout
        time.sleep(7)
        r = f.only()
        assert (r["state"], r["stage"], r["waiting"]["reason"]) == ("paused", 0, "paused")
        p = f.pub.ferry("rollout", "pause", "hello", "stable", check=1)
        assert "cannot pause the rollout of revision 2 on latest/stable: it is paused" in p.stderr
        f.pub.ferry("rollout", "resume", "hello")
        assert f.only()["state"] == "running"
        r = wait_for("stage 2", lambda: (lambda o: o["stage"] == 1 and o)(f.only()))
        f.pub.ferry("rollout", "pause", "hello")  # stop it from a pause, at stage 2
        assert r["percentage"] == 20 and f.stable()["progressive"]["percentage"] == 20
        p = f.pub.ferry("rollout", "stop", "hello")
        assert "stopped" in p.stdout
        st = f.stable()
        assert st["revision"] == 1 and st.get("progressive") is None
        assert f.rollout() == []
        p = f.pub.ferry("rollout", "stop", "hello", check=1)
        assert "the newest rollout of hello is stopped" in p.stderr
        # another release to the channel supersedes an active rollout
        f.pub.ferry("release", "hello", "2", "stable", "--stages", "50,100", "--stage-wait",
                    "1h")
        f.pub.ferry("release", "hello", "2", "stable")
        assert f.rollout() == [] and f.history()[0]["state"] == "superseded"
        p = f.pub.ferry("rollout", "hello")
        assert p.stdout == "hello has no active rollout\n"
        wait_for("the events", lambda: len(f.events()) >= 6)
        assert f.event_names() == [("rollout-paused", "paused"), ("rollout-resumed", "running"),
                                   ("rollout-stage", "running"), ("rollout-paused", "paused"),
                                   ("rollout-finished", "stopped"),
                                   ("rollout-finished", "superseded")]


def test_release_refuses_bad_stages(store, tmp_path):
    store.start()
    pub = Publisher(store)
    pub.push(build_package(str(tmp_path), version="1.0"))
    for args, msg in [(["--stages", "1,10"], '"stages": the last stage must be 100'),
                      (["--stages", "10,5,100"], "each larger than the one before"),
                      (["--stages", "100"], '"stages": expected 2 to 10 percentages'),
                      (["--stages", "1,100", "--progressive", "5"], "contradict"),
                      (["--stages", "1,x,100"], "--stages: expected percentages"),
                      (["--stages", "1,100", "--stage-wait", "31d"], "--stage-wait: expected"),
                      (["--stage-wait", "0s"], "--stage-wait: expected")]:
        p = store.ferry(pub.token, "release", "hello", "1", "beta", *args)
        assert p.returncode != 0, args
        assert msg in p.stderr, (args, p.stderr)
    got = store.api("POST", "/v1/packages/hello/release", token=pub.token,
                    body={"revision": 1, "channels": ["beta"], "stage-wait": 5})
    assert got[0] == 400 and "need \\\"stages\\\"" in json.dumps(got[1])


def report(store, rev, result, d=None):
    """A signed report of revision rev on latest/stable from a new device
    (or from d again)."""
    d = d or Device()
    over = {"to-revision": rev, "result": result}
    if result == "ok":
        over.update({"failed-step": None, "message": "", "log": []})
    body = json.dumps(d.report(**over)).encode()
    status, reply = post(store, body, d.sign(body))
    assert status == 201, reply
    return d


def end_stage_now(store):
    """The current stage's wait is over and its job due: moved in the
    database, as if the hour had passed. First the store's clock passes
    the second of the last report, so that the next stage begins after
    every report sent so far (a report counts in the stage during which it
    was received, to the second)."""
    last = int(store.sql("SELECT COALESCE(MAX(received), 0) FROM reports")[0][0])
    wait_for("the next second", lambda: time.time() >= last + 1)
    write_sql(store, ["UPDATE rollouts SET stage_started = stage_started - 7200 "
                      "WHERE state = 'running'",
                      "UPDATE jobs SET run_after = 0 WHERE kind = 'rollout'"])


def test_stage_counts_from_device_reports(store, tmp_path):
    store.start()
    pub = Publisher(store)
    pub.push(build_package(str(tmp_path), version="1.0"))
    pub.ferry("push", build_package(str(tmp_path), version="2.0"))
    pub.ferry("release", "hello", "2", "stable", "--stages", "1,50,100", "--stage-wait", "1h")

    def only():
        return json.loads(pub.ferry("rollout", "hello", "--json").stdout)["rollouts"][0]

    def history():
        got = store.api("GET", "/v1/packages/hello/rollouts?all=1", token=pub.token)
        return got[1]["rollouts"][0]

    r = only()
    assert r["stage-counts"] == [{"stage": 0, "percentage": 1, "started": r["started"],
                                  "ok": 0, "rolled-back": 0}]
    # stage 1: one device ok
    a = report(store, 2, "ok")
    end_stage_now(store)
    r = wait_for("stage 2", lambda: (lambda o: o["stage"] == 1 and o)(only()))
    began = [e["time"] for e in r["events"] if e["event"] == "stage"]
    assert len(began) == 1
    # stage 2: one more ok, two rolled back or failed, and the first
    # device's again
    report(store, 2, "ok")
    report(store, 2, "rolled-back")
    report(store, 2, "failed")
    report(store, 2, "ok", a)
    r = only()
    assert r["stage-counts"] == [
        {"stage": 0, "percentage": 1, "started": r["started"], "ok": 1, "rolled-back": 0},
        {"stage": 1, "percentage": 50, "started": began[0], "ok": 2, "rolled-back": 2}]
    # the rollout's own counts are its distinct devices over every stage
    assert (r["counts"]["ok"], r["counts"]["rolled-back"]) == (2, 2)
    # another revision's reports count nowhere
    report(store, 1, "rolled-back")
    assert only()["stage-counts"] == r["stage-counts"]

    text = pub.ferry("rollout", "hello").stdout
    rows = [line.split() for line in text.splitlines() if line.startswith("  ")]
    assert ["Stage", "Share", "Began", "Ok", "Rolled", "back"] in rows, text
    assert [(row[0], row[1], row[3], row[4]) for row in rows if row[0] in ("1", "2")] == [
        ("1", "1%", "1", "0"), ("2", "50%", "2", "2")], text

    # the last stage completes the release; a report after it counts there
    end_stage_now(store)
    wait_for("the rollout done", lambda: history()["state"] == "done")
    report(store, 2, "ok")
    done = history()
    assert [(s["stage"], s["percentage"], s["ok"], s["rolled-back"])
            for s in done["stage-counts"]] == [(0, 1, 1, 0), (1, 50, 2, 2), (2, 100, 1, 0)]
    assert done["stage-counts"][2]["started"] >= began[0]


DAY = 86400


def test_finished_rollouts_are_pruned_after_rollouts_days(store, tmp_path):
    """rollout-prune deletes the rollouts that finished more than
    --rollouts-days ago (default 365) with their events; 0 keeps them all;
    never a running or paused one. Their age is set in the database."""
    p = run("ferry-store", "serve", "--dir", store.dir, "--rollouts-days", "36501")
    assert p.returncode == 2 and "--rollouts-days: expected 0 to 36500" in p.stderr
    store.start(args=["--rollouts-days", "0"])
    pub = Publisher(store)
    pub.push(build_package(str(tmp_path), version="1.0"))
    pub.ferry("push", build_package(str(tmp_path), version="2.0"))

    def staged(channel, *more):
        p = pub.ferry("release", "hello", "2", channel, "--stages", "1,100", "--stage-wait",
                      "1h", *more, "--json")
        return json.loads(p.stdout)["rollouts"][0]["id"]

    ids = {}
    ids["stopped"] = staged("stable")
    pub.ferry("rollout", "stop", "hello", "stable")
    ids["superseded"] = staged("candidate")
    pub.ferry("release", "hello", "2", "candidate")
    ids["halted"] = staged("beta", "--halt-failures", "1")
    d = Device()
    body = json.dumps(d.report(channel="latest/beta")).encode()
    assert post(store, body, d.sign(body))[0] == 201
    ids["done"] = staged("edge")
    write_sql(store, ["UPDATE rollouts SET stage_started = stage_started - 7200, "
                      "min_ok = 0 WHERE state = 'running'",
                      "UPDATE jobs SET run_after = 0 WHERE kind = 'rollout'"])
    ids["paused"] = staged("stable/paused")
    pub.ferry("rollout", "pause", "hello", "stable/paused")
    ids["running"] = staged("stable/running")
    ids["recent"] = staged("beta/recent")
    pub.ferry("rollout", "stop", "hello", "beta/recent")

    def states():
        status, got = store.api("GET", "/v1/packages/hello/rollouts?all=1", token=pub.token)
        assert status == 200, got
        return {r["id"]: r["state"] for r in got["rollouts"]}
    wait_for("the halt and the end", lambda: states()[ids["done"]] == "done" and
             states()[ids["halted"]] == "halted")
    assert {k: states()[v] for k, v in ids.items()} == {
        "stopped": "stopped", "superseded": "superseded", "halted": "halted", "done": "done",
        "paused": "paused", "running": "running", "recent": "stopped"}
    # all but the recent one began and ended 400 days ago; the paused and
    # running ones get an end too, which no rollout under way has, to show
    # that their state alone keeps them
    old = ", ".join(str(v) for k, v in ids.items() if k != "recent")
    write_sql(store, [f"UPDATE rollouts SET started = started - {400 * DAY}, "
                      f"finished = {int(time.time()) - 400 * DAY} WHERE id IN ({old})",
                      f"UPDATE rollout_events SET time = time - {400 * DAY} "
                      f"WHERE rollout IN ({old})"])
    events = {r[0]: int(r[1]) for r in store.sql(
        "SELECT rollout, COUNT(*) FROM rollout_events GROUP BY rollout")}
    assert sorted(int(k) for k in events) == sorted(ids.values())

    # 0: kept forever. The job is made due now; once it ran it is queued
    # again a day later
    write_sql(store, ["UPDATE jobs SET run_after = 0 WHERE kind = 'rollout-prune'"])
    wait_for("the prune job", lambda: [r for r in store.sql(
        "SELECT run_after FROM jobs WHERE kind = 'rollout-prune' AND state = 'queued'")
        if int(r[0]) > time.time() + DAY - 3600])
    assert sorted(states()) == sorted(ids.values())

    # the default, 365 days: the job runs at start
    assert store.stop() == 0
    store.start()
    kept = {ids["paused"], ids["running"], ids["recent"]}
    wait_for("the prune", lambda: set(states()) == kept)
    assert {int(r[0]) for r in store.sql("SELECT id FROM rollouts")} == kept
    left = {int(r[0]): int(r[1]) for r in store.sql(
        "SELECT rollout, COUNT(*) FROM rollout_events GROUP BY rollout")}
    assert left == {k: events[str(k)] for k in kept}
    wait_for("the log line", lambda: "rollouts: deleted 4 that finished more than 365 days "
             "ago" in store.read_log())
    # the rollouts under way still move, stop and show
    pub.ferry("rollout", "resume", "hello", "stable/paused")
    p = pub.ferry("rollout", "stop", "hello", "stable/running")
    assert "stopped" in p.stdout


def checkin(dev, packages, over=None):
    body = {"device-id": dev.id, "device-key": dev.public, "time": int(time.time()),
            "arch": "arm64", "agent-version": "9.9", "packages": packages}
    body.update(over or {})
    return json.dumps(body).encode()


def test_checkins_fill_an_inventory_only_publishers_see(store, tmp_path):
    store.start()
    pub = Publisher(store)
    pub.push(build_package(str(tmp_path), version="1.0"))
    d = Device()
    pkgs = [{"name": "hello", "revision": 1, "channel": "stable", "held": True},
            {"name": "secret-app", "revision": 4, "channel": "edge", "held": False}]
    body = checkin(d, pkgs)
    status, _, data = store.request("POST", "/v1/devices/checkin", body,
                                    {"Content-Type": "application/json"})
    assert status == 401 and b"a check-in must be signed" in data
    status, _, data = store.request("POST", "/v1/devices/checkin", body,
                                    {"Content-Type": "application/json",
                                     "X-Ferry-Device-Signature": d.sign(body + b" ")})
    assert status == 403 and b"check-in's signature does not verify" in data
    status, reply = post_checkin(store, d, body)
    # a package this store does not know is dropped, not stored
    assert (status, reply) == (200, {"recorded": 1})
    assert store.sql("SELECT package, channel, held FROM device_packages") == [
        ("hello", "latest/stable", "1")]
    for bad, msg in [({"packages": [{"name": "hello"}]}, '"packages"[0]'),
                     ({"arch": "AMD64"}, '"arch"'), ({"extra": 1}, 'unknown field "extra"'),
                     ({"packages": [pkgs[0]] * 2}, "hello twice"),
                     ({"packages": [dict(pkgs[0], name=f"p{i}") for i in range(257)]},
                      "at most 256")]:
        status, reply = post_checkin(store, d, checkin(d, pkgs, bad))
        assert status == 400 and msg in reply["error"]["message"], (bad, reply)
    inv = json.loads(pub.ferry("devices", "hello", "--json").stdout)
    assert inv["devices"][0]["device"] == d.id and inv["devices"][0]["held"] is True
    assert inv["weekly-active"]["by-arch"] == [{"arch": "arm64", "devices": 1}]
    # a publisher of another package sees none of it
    bob = store.account("bob")
    p = store.ferry(bob, "devices", "hello")
    assert p.returncode == 1 and "account bob may not publish hello" in p.stderr
    p = store.ferry(bob, "devices")
    assert p.returncode == 0 and p.stdout == ""
    # another key for the same device id is refused, as for reports
    d2 = Device(device_id=d.id)
    status, reply = post_checkin(store, d2, checkin(d2, pkgs))
    assert status == 403 and reply["error"]["code"] == "device-key-mismatch"


def post_checkin(store, d, body):
    status, _, data = store.request("POST", "/v1/devices/checkin", body,
                                    {"Content-Type": "application/json",
                                     "X-Ferry-Device-Signature": d.sign(body)})
    return status, json.loads(data)


def test_metrics_for_prometheus(store, tmp_path):
    token = tmp_path / "metrics-token"
    token.write_text("metrics-token-0123456789abcdef\n")
    store.start(args=["--metrics-token", str(token)])
    pub = Publisher(store)
    pub.push(build_package(str(tmp_path), version="1.0"))
    d = Device()
    post_checkin(store, d, checkin(d, [{"name": "hello", "revision": 1, "channel": "stable",
                                        "held": False}]))
    # the resign job queued at start runs beside the requests: wait for it
    deadline = time.monotonic() + 60
    while True:
        status, headers, data = store.request("GET", "/metrics")
        text = data.decode()
        if 'job_duration_seconds_bucket{kind="resign"' in text or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert ('ferry_store_http_requests_total{route="/v1/packages/*/release",method="POST",'
            'status="200"} 1') in text
    assert 'ferry_store_active_devices{package="hello",channel="latest/stable"} 1' in text
    assert "ferry_store_checkins_received_total 1" in text
    assert 'ferry_store_publish_duration_seconds_count' in text
    assert 'ferry_store_job_duration_seconds_bucket{kind="resign",le="+Inf"}' in text
    p = subprocess.run(["promtool", "check", "metrics"], input=data, capture_output=True)
    assert p.returncode == 0, p.stdout + p.stderr
    # from elsewhere than loopback: only with the token (the test reaches
    # the store over loopback, so the check is the token's refusal path)
    assert store.request("POST", "/metrics")[0] == 405
