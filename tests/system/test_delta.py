"""Delta updates in the store, on SQLite and on PostgreSQL: releasing a new
revision queues a job that makes the delta from the previous published
revision, keeps it when it is under 60% of the full image, and publishes it
as a TUF target of the package's role whose length and hashes match the
blob; applying it to the old image gives the new image byte for byte. A
delta that would not be small enough is dropped and recorded. A delta job
being made holds up no other job."""
import glob
import hashlib
import json
import os
import random
import time

import vulnlib
from conftest import run
from storelib import backend, make_image, postgres, store  # noqa: F401 (fixtures)
from test_vuln_debian import osv_record
from test_vuln_store import MID, OLD, write_feed
from vulnlib import libssl3, sbom


def pack(tmp, name, version, payload, extra=b""):
    root = os.path.join(str(tmp), f"tree-{name}-{version}")
    os.makedirs(os.path.join(root, "meta"))
    os.makedirs(os.path.join(root, "bin"))
    with open(os.path.join(root, "meta", "ferry.yaml"), "w") as f:
        f.write(f"name: {name}\nversion: '{version}'\nsummary: test\narchitectures: [amd64]\n"
                f"apps:\n  {name}:\n    command: bin/{name}\n")
    with open(os.path.join(root, "bin", name), "w") as f:
        f.write(f"#!/bin/sh\necho {name} {version}\n")
    os.chmod(os.path.join(root, "bin", name), 0o755)
    with open(os.path.join(root, "payload.bin"), "wb") as f:
        f.write(payload + extra)
    out = os.path.join(str(tmp), f"{name}_{version}_amd64.ferry")
    run("ferry", "pack", root, "-o", out, check=0)
    return out


def payload(seed, n):
    r = random.Random(seed)
    return bytes(r.choice(b"abcdefghijklmnop") for _ in range(n))


def role_targets(store, pkg):
    """The targets of the newest version of the package's role."""
    best, data = -1, None
    for p in glob.glob(os.path.join(store.dir, "repo", "published", "metadata",
                                    f"*.pkg-{pkg}.json")):
        v = int(os.path.basename(p).split(".")[0])
        if v > best:
            best, data = v, json.load(open(p))
    return data["signed"]["targets"] if data else {}


def wait_for(pred, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.5)
    raise AssertionError("timed out")


def test_release_publishes_a_delta_target(store, tmp_path):
    store.start()
    alice = store.account("alice")
    store.owner_tokens["alice"] = alice
    store.ferry(alice, "register", "hello", check=0)
    base = payload(1, 400000)
    img1 = pack(tmp_path / "1", "hello", "1.0", base)
    img2 = pack(tmp_path / "2", "hello", "1.1", base[:1000] + b"changed" + base[1000:])
    store.ferry(alice, "push", img1, "--release", "stable", check=0)
    store.ferry(alice, "push", img2, "--release", "stable", check=0)

    name = "hello_1-2.delta"
    targets = wait_for(lambda: {k: v for k, v in role_targets(store, "hello").items()
                                if k.endswith(name)})
    (tname, meta), = targets.items()
    assert meta["custom"] == {"package": "hello", "from": 1, "to": 2}
    # the metadata names the target before the job marks the row published
    rows = wait_for(lambda: [r for r in store.sql(
        "SELECT state, sha256, size, full_size, published FROM deltas "
        "WHERE package = 'hello' AND from_rev = 1 AND to_rev = 2") if r[4] == "1"])
    assert len(rows) == 1 and rows[0][0] == "kept" and rows[0][4] == "1"
    sha = rows[0][1]
    assert meta["hashes"]["sha256"] == sha
    assert meta["length"] == int(rows[0][2]) < 0.6 * int(rows[0][3])

    # the published bytes are the delta, and it rebuilds revision 2
    status, _, body = store.request("GET", f"/repo/targets/{tname}")
    if status != 200:
        status, _, body = store.request("GET", f"/repo/targets/{os.path.dirname(tname)}/"
                                        f"{sha}.{os.path.basename(tname)}")
    assert status == 200
    assert hashlib.sha256(body).hexdigest() == sha and len(body) == meta["length"]
    d = tmp_path / "d.delta"
    d.write_bytes(body)
    out = tmp_path / "rebuilt.ferry"
    run("ferry", "delta", "apply", img1, str(d), "-o", str(out), check=0)
    assert out.read_bytes() == open(img2, "rb").read()
    store.check_consistent()

    # an unrelated revision: the delta is not small enough, recorded, no target
    img3 = pack(tmp_path / "3", "hello", "2.0", payload(3, 150000))
    store.ferry(alice, "push", img3, "--release", "stable", check=0)
    wait_for(lambda: len(store.sql("SELECT 1 FROM deltas WHERE to_rev = 3")) == 2, 240)
    rows = store.sql("SELECT from_rev, state FROM deltas WHERE package = 'hello' AND "
                     "to_rev = 3 ORDER BY from_rev")
    assert rows == [("1", "large"), ("2", "large")]
    assert not [k for k in role_targets(store, "hello") if k.endswith("-3.delta")]
    assert store.stop() == 0, store.read_log()


def test_deltas_from_what_each_channel_holds(store, tmp_path):
    """Revision 5 is published to beta first, where the job makes deltas
    from the newest revisions (4, 3, 2); released to stable later, it gets a
    delta from 1, the revision stable's devices hold, which the three newest
    never include."""
    store.start()
    alice = store.account("alice")
    store.owner_tokens["alice"] = alice
    store.ferry(alice, "register", "hello", check=0)
    base = payload(5, 300000)
    imgs = [pack(tmp_path / str(v), "hello", f"1.{v}", base[:v * 1000] + b"v%d" % v +
                 base[v * 1000:]) for v in range(1, 6)]
    store.ferry(alice, "push", imgs[0], "--release", "stable", check=0)
    for img in imgs[1:]:
        store.ferry(alice, "push", img, "--release", "beta", check=0)

    def pairs_to(to):
        return {int(r[0]) for r in store.sql(f"SELECT from_rev FROM deltas WHERE "
                                             f"package = 'hello' AND to_rev = {to}")}

    try:
        wait_for(lambda: pairs_to(5) >= {4, 3, 2}, timeout=120)
    except AssertionError:
        raise AssertionError(f"deltas to 5: {pairs_to(5)}; jobs: "
                             f"{store.sql('SELECT kind, arg, state, last_error FROM jobs')}\n"
                             f"{store.read_log()[-3000:]}")
    assert 1 not in pairs_to(5)
    store.ferry(alice, "release", "hello", "5", "stable", check=0)
    wait_for(lambda: 1 in pairs_to(5))
    targets = wait_for(lambda: {k: v for k, v in role_targets(store, "hello").items()
                                if k.endswith("hello_1-5.delta")})
    (_, meta), = targets.items()
    assert meta["custom"] == {"package": "hello", "from": 1, "to": 5}


def test_a_busy_delta_job_does_not_hold_up_the_others(store, tmp_path):
    """Delta jobs have a lane of their own: one held at the fault point
    deltas.make (paused until a file is removed) holds no other job. An
    advisory imported meanwhile is evaluated (its finding shows in ferry
    vulns) while the delta job still runs; let go, the delta job ends."""
    hold = tmp_path / "hold"
    hold.write_text("")
    store.start(env={"FERRY_FAULT": "deltas.make", "FERRY_FAULT_ACTION": f"pause:{hold}"})
    alice = store.account("alice")
    store.owner_tokens["alice"] = alice
    store.ferry(alice, "register", "hello", check=0)
    for version in ("1.0", "1.1"):
        img = make_image(tmp_path / version, "hello", version, payload=payload(9, 200000),
                         extra={"meta/sbom.cdx.json": sbom("hello", version, [libssl3(OLD)])})
        store.ferry(alice, "push", img, "--release", "stable", check=0)

    def log():
        return store.read_log()
    vulnlib.wait_for("the delta job to reach deltas.make",
                     lambda: "fault deltas.make: paused" in log(), 120)
    assert ("delta", "running") in store.sql("SELECT kind, state FROM jobs")

    feed = write_feed(tmp_path / "feed", [osv_record("CVE-2025-0001", MID, "high")])
    p = store.admin("vulns", "import", feed)
    assert "queued 1 scan" in p.stdout, p.stdout

    def found():
        r = json.loads(store.ferry(alice, "vulns", "hello", "--json", check=0).stdout)
        return r["findings"]
    try:
        got = vulnlib.wait_for("the finding while the delta job is held", found)
    except AssertionError:
        raise AssertionError(f"jobs: {store.sql('SELECT kind, arg, state FROM jobs')}\n"
                             f"{log()[-3000:]}")
    assert [(f["revision"], f["advisory"]) for f in got] == [(2, "DEBIAN-CVE-2025-0001")]
    # the delta job was held all along: nothing made yet, still running
    assert "fault deltas.make: resumed" not in log()
    assert store.sql("SELECT from_rev, to_rev FROM deltas") == []
    assert ("delta", "running") in store.sql("SELECT kind, state FROM jobs")

    hold.unlink()
    wait_for(lambda: not store.sql("SELECT 1 FROM jobs WHERE kind = 'delta'"), 120)
    assert ("1", "2") in store.sql("SELECT from_rev, to_rev FROM deltas")
    assert store.stop() == 0, store.read_log()
