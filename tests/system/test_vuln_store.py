"""Vulnerability notices in a real ferry-store, on SQLite and on PostgreSQL:
advisories imported with `ferry-store vulns import` (idempotent, changed
records replace, malformed ones reported and skipped), the scan jobs after
uploads, releases and imports, findings for a revision released in several
channels, cleared when it is no longer released or the advisory is
withdrawn (the history kept), `ferry vulns`, who may call the vulns and
webhooks routes, and webhooks retried when the receiver fails first, with a
signature the receiver checks."""
import json
import os
import time

from storelib import backend, make_image, postgres, store  # noqa: F401 (fixtures)
from test_vuln_debian import osv_record
from vulnlib import Receiver, libssl3, sbom, signature_ok, wait_for

OLD, MID, NEW = "3.0.17-1~deb12u2", "3.0.20-1~deb12u2", "3.0.22-1~deb12u2"


def write_feed(d, records, bad=()):
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    for r in records:
        with open(os.path.join(d, f"{r['id']}.json"), "w") as f:
            json.dump(r, f)
    for name, text in bad:
        with open(os.path.join(d, name), "w") as f:
            f.write(text)
    return d


def image(tmp_path, version, openssl):
    return make_image(tmp_path, "hello", version, extra={
        "meta/sbom.cdx.json": sbom("hello", version, [
            libssl3(openssl),
            "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12&upstream=zlib",
        ])})


# the webhook receivers of these tests listen on the loopback
ALLOW_LOOPBACK = ("--webhook-allow-private",)


def publisher(store):
    store.start(args=ALLOW_LOOPBACK)
    alice = store.account("alice")
    store.owner_tokens["alice"] = alice
    store.ferry(alice, "register", "hello", check=0)
    return alice


def findings(store, token, name="hello"):
    p = store.ferry(token, "vulns", name, "--json", check=0)
    return json.loads(p.stdout)


def settled(store, token):
    """The findings once no scan is pending."""
    def done():
        r = findings(store, token)
        return r if not r["scan"]["pending"] else None
    return wait_for("the scans to finish", done)


def test_import_is_idempotent_and_reports_malformed_records(store, tmp_path):
    feed = write_feed(tmp_path / "feed", [
        osv_record("CVE-2025-0001", MID, "medium"),
        osv_record("CVE-2025-0002", NEW, "high"),
    ], bad=[("DEBIAN-CVE-2025-0003.json", json.dumps(
        {**osv_record("CVE-2025-0003", "3.0 beta", "low")})), ("broken.json", "{\"id\": ")])
    p = store.admin("vulns", "import", feed)
    assert p.stdout.splitlines()[0] == (
        f"imported {feed}: 2 records from 4 files: 2 added, 0 replaced, 0 unchanged, "
        "0 older, 0 withdrawn, 2 rejected")
    assert (f"ferry-store vulns import: rejected: {feed}/DEBIAN-CVE-2025-0003.json: record "
            "DEBIAN-CVE-2025-0003: affected[0].ranges[0].events[1].fixed: version "
            "'3.0 beta' has embedded spaces") in p.stderr
    assert f"rejected: {feed}/broken.json" in p.stderr
    rows = store.sql("SELECT id, digest, updated FROM advisories ORDER BY id")
    assert [r[0] for r in rows] == ["DEBIAN-CVE-2025-0001", "DEBIAN-CVE-2025-0002"]

    # the same data again changes nothing, not even the times
    p = store.admin("vulns", "import", feed)
    assert "2 records from 4 files: 0 added, 0 replaced, 2 unchanged" in p.stdout
    assert store.sql("SELECT id, digest, updated FROM advisories ORDER BY id") == rows

    # a changed record replaces the old one; an older one is ignored
    changed = osv_record("CVE-2025-0001", NEW, "high")
    changed["modified"] = "2026-10-22T10:00:00Z"
    older = osv_record("CVE-2025-0002", OLD, "low")
    older["modified"] = "2020-01-01T00:00:00Z"
    write_feed(feed, [changed, older])
    p = store.admin("vulns", "import", feed)
    assert ("2 records from 2 files: 0 added, 1 replaced, 0 unchanged, 1 older, "
            "0 withdrawn, 0 rejected") in p.stdout
    rec = json.loads(store.sql(
        "SELECT record FROM advisories WHERE id = 'DEBIAN-CVE-2025-0001'")[0][0])
    assert rec["affected"][0]["ranges"][0]["events"][1] == {"fixed": NEW}

    p = store.admin("vulns", "sources", "--json")
    src = json.loads(p.stdout)
    assert src["advisories"] == 2 and src["withdrawn"] == 0
    assert [(s["added"], s["replaced"], s["unchanged"], s["older"], s["rejected"])
            for s in src["imports"]] == [(2, 0, 0, 0, 2), (0, 0, 2, 0, 2), (0, 1, 0, 1, 0)]
    assert all(s["path"] == str(feed) and s["finished"] for s in src["imports"])
    p = store.admin("vulns", "sources")
    assert p.stdout.startswith("2 advisories held (0 withdrawn), last changed ")
    assert len(p.stdout.splitlines()) == 5

    p = store.admin("vulns", "import", tmp_path / "missing", check=1)
    assert p.stderr.startswith(f"ferry-store vulns import: {tmp_path / 'missing'}: ")


def test_vulns_says_when_the_store_has_no_advisories(store, tmp_path):
    """With no feed imported, no finding means nothing: ferry vulns and the
    API say so; after an import they say when it was."""
    alice = publisher(store)
    store.ferry(alice, "push", image(tmp_path, "1.0", OLD), "--release", "stable", check=0)
    r = settled(store, alice)
    assert r["findings"] == []
    assert r["advisories"] == {"imported": False, "last-import": None, "imports": 0,
                               "sources": 0, "held": 0}
    p = store.ferry(alice, "vulns", "hello", check=0)
    assert p.stdout == (
        "hello: no advisories imported into this store yet: it cannot tell whether its "
        "released revisions are vulnerable (the store's operator imports them with "
        "ferry-store vulns import)\n")
    assert "no known vulnerability" not in p.stdout

    # an import that names nothing this package bundles: now "none known" holds
    rec = osv_record("CVE-2025-0009", MID, "high")
    rec["affected"][0]["package"].update(name="curl", purl="pkg:deb/debian/curl?arch=source")
    feed = write_feed(tmp_path / "feed", [rec])
    assert store.sql("SELECT COUNT(*) FROM vuln_sources")[0][0] in (0, "0")
    store.admin("vulns", "import", feed)
    [(finished,)] = store.sql("SELECT finished FROM vuln_sources")
    r = settled(store, alice)
    assert r["findings"] == []
    assert r["advisories"] == {"imported": True, "last-import": int(finished),
                               "imports": 1, "sources": 1, "held": 1}
    p = store.ferry(alice, "vulns", "hello", check=0)
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(finished)))
    assert p.stdout == ("hello: no known vulnerability in its released revisions\n"
                        f"advisories last imported at {when} (1 held)\n")
    store.admin("vulns", "import", feed)
    r = findings(store, alice)
    assert (r["advisories"]["imports"], r["advisories"]["sources"]) == (2, 1)
    assert store.stop() == 0


def test_notice_in_several_channels_then_no_longer_released(store, tmp_path):
    alice = publisher(store)
    p = store.ferry(alice, "push", image(tmp_path, "1.0", OLD), "--release", "stable,beta",
                    check=0)
    assert p.stdout == "released hello revision 1 to latest/stable, latest/beta\n"
    assert settled(store, alice)["findings"] == []

    feed = write_feed(tmp_path / "feed", [osv_record("CVE-2025-0001", MID, "high")])
    p = store.admin("vulns", "import", feed)
    assert "queued 1 scan of the packages these advisories name" in p.stdout
    r = wait_for("the finding", lambda: findings(store, alice)["findings"])
    assert len(r) == 1
    f = r[0]
    assert f["revision"] == 1
    assert f["channels"] == ["latest/stable", "latest/beta"]
    assert (f["component"], f["bundled_version"]) == ("libssl3", OLD)
    assert (f["ecosystem"], f["release"], f["source"]) == ("Debian", "12", "openssl")
    assert (f["advisory"], f["aliases"], f["fixed_version"]) == (
        "DEBIAN-CVE-2025-0001", ["CVE-2025-0001"], MID)
    assert f["severity"] == "high"
    p = store.ferry(alice, "vulns", "hello", check=0)
    assert p.stdout.startswith("hello: 1 open finding in released revisions\n")
    row = [ln.split() for ln in p.stdout.splitlines() if ln.startswith("1 ")]
    assert row == [["1", "latest/stable,latest/beta", "libssl3", OLD, MID,
                    "DEBIAN-CVE-2025-0001", "high"]]
    assert "also known as CVE-2025-0001" in p.stdout
    assert "What to do: rebuild hello against the fixed versions" in p.stdout

    # the fixed revision replaces it in stable: still open, for beta only
    store.ferry(alice, "push", image(tmp_path, "1.1", MID), "--release", "stable", check=0)
    r = settled(store, alice)
    assert [(f["revision"], f["channels"]) for f in r["findings"]] == [(1, ["latest/beta"])]
    assert r["history"] == []
    # and in beta: revision 1 is no longer released, the notice clears
    store.ferry(alice, "release", "hello", "2", "beta", check=0)
    r = settled(store, alice)
    assert r["state"] == "clear" and r["findings"] == []
    assert [(h["revision"], h["advisory"], h["cleared_reason"]) for h in r["history"]] == [
        (1, "DEBIAN-CVE-2025-0001", "not-released")]
    assert r["history"][0]["cleared"] >= r["history"][0]["first_seen"]
    p = store.ferry(alice, "vulns", "hello", check=0)
    lines = p.stdout.splitlines()
    assert lines[:2] == ["hello: no known vulnerability in its released revisions",
                         "1 cleared finding in the history (--json lists them)"]
    assert lines[2].startswith("advisories last imported at ") and len(lines) == 3

    # released again (a revert): a new finding, the old one stays history
    store.ferry(alice, "release", "hello", "1", "edge", check=0)
    r = wait_for("the finding again", lambda: findings(store, alice)["findings"])
    assert [(f["revision"], f["channels"]) for f in r] == [(1, ["latest/edge"])]
    assert len(findings(store, alice)["history"]) == 1
    assert store.stop() == 0


def test_withdrawn_advisory_clears_the_notice(store, tmp_path):
    alice = publisher(store)
    store.ferry(alice, "push", image(tmp_path, "1.0", OLD), "--release", "stable", check=0)
    feed = write_feed(tmp_path / "feed", [osv_record("CVE-2025-0001", MID, "high"),
                                          osv_record("CVE-2025-0002", NEW, "low")])
    store.admin("vulns", "import", feed)
    r = wait_for("two findings", lambda: len(findings(store, alice)["findings"]) == 2)
    withdrawn = osv_record("CVE-2025-0001", MID, "high")
    withdrawn["withdrawn"] = withdrawn["modified"] = "2026-10-22T00:00:00Z"
    write_feed(feed, [withdrawn, osv_record("CVE-2025-0002", NEW, "low")])
    p = store.admin("vulns", "import", feed)
    assert "0 added, 1 replaced, 1 unchanged, 0 older, 1 withdrawn, 0 rejected" in p.stdout
    r = wait_for("the withdrawal", lambda: (lambda x: x if x["history"] else None)(
        findings(store, alice)))
    assert [f["advisory"] for f in r["findings"]] == ["DEBIAN-CVE-2025-0002"]
    assert [(h["advisory"], h["cleared_reason"]) for h in r["history"]] == [
        ("DEBIAN-CVE-2025-0001", "withdrawn")]
    # importing the withdrawn record again changes nothing
    p = store.admin("vulns", "import", feed)
    assert "0 added, 0 replaced, 2 unchanged" in p.stdout
    assert store.sql("SELECT COUNT(*) FROM jobs WHERE kind = 'vulnkey'") == [("0",)]
    assert len(settled(store, alice)["findings"]) == 1


def test_vulns_and_webhooks_routes_are_authorised(store, tmp_path):
    alice = publisher(store)
    bob = store.account("bob")
    carol = store.account("carol")
    store.ferry(alice, "collaborators", "add", "hello", "carol", check=0)
    store.ferry(alice, "push", image(tmp_path, "1.0", OLD), "--release", "stable", check=0)
    hook = {"url": "http://127.0.0.1:9/x", "secret": "s" * 32}
    for path, method, body in [("/v1/packages/hello/vulns", "GET", None),
                               ("/v1/packages/hello/webhooks", "GET", None),
                               ("/v1/packages/hello/webhooks", "POST", hook)]:
        assert store.api(method, path, body)[0] == 401
        st, r = store.api(method, path, body, token="ferry_short")
        assert (st, r["error"]["code"]) == (401, "invalid-token")
        st, r = store.api(method, path, body, token=bob)
        assert (st, r["error"]["code"]) == (403, "forbidden"), path
        assert r["error"]["message"] == "account bob may not publish hello"
        for tok in (alice, carol):
            assert store.api(method, path, body, token=tok)[0] in (200, 201)
    ids = [h["id"] for h in store.api("GET", "/v1/packages/hello/webhooks", token=alice)[1][
        "webhooks"]]
    assert len(ids) == 2
    st, r = store.api("DELETE", f"/v1/packages/hello/webhooks/{ids[0]}", token=bob)
    assert st == 403
    assert store.api("DELETE", f"/v1/packages/hello/webhooks/{ids[0]}", token=carol)[0] == 200
    st, r = store.api("DELETE", f"/v1/packages/hello/webhooks/{ids[0]}", token=alice)
    assert (st, r["error"]["message"]) == (404, f"hello has no webhook {ids[0]}")
    p = store.ferry(bob, "vulns", "hello", check=1)
    assert p.stderr == "ferry: vulns hello: account bob may not publish hello\n"
    p = store.ferry(bob, "webhooks", "hello", check=1)
    assert p.stderr == "ferry: webhooks hello: account bob may not publish hello\n"
    p = store.ferry(alice, "vulns", "nothere", check=1)
    assert "package nothere is not registered" in p.stderr

    # account hooks: only the account's own, whatever the id
    secret = tmp_path / "secret"
    secret.write_text("a-secret-of-32-bytes-or-so-12345\n")
    p = store.ferry(alice, "webhooks", "add", "@alice", "http://127.0.0.1:9/a",
                    "--secret-file", secret, check=0)
    hid = p.stdout.split()[2]
    assert p.stdout == f"added webhook {hid} for @alice: http://127.0.0.1:9/a\n"
    p = store.ferry(bob, "webhooks", "remove", "@alice", hid, check=1)
    assert p.stderr == ("ferry: webhooks remove @alice: you are logged in as bob: only the "
                        "hooks of @bob can be managed with this token\n")
    st, r = store.api("DELETE", f"/v1/account/webhooks/{hid}", token=bob)
    assert (st, r["error"]["message"]) == (404, f"bob has no webhook {hid}")
    assert store.api("GET", "/v1/account/webhooks", token=bob)[1]["webhooks"] == []
    p = store.ferry(alice, "webhooks", "@alice", check=0)
    assert hid in p.stdout and "a-secret" not in p.stdout
    store.ferry(alice, "webhooks", "remove", "@alice", hid, check=0)

    # bad input
    for body, msg in [({"url": "ftp://127.0.0.1/x", "secret": "s" * 32},
                       "\"url\": ftp://127.0.0.1/x is not an http:// or https:// URL"),
                      ({"url": "http://u:p@127.0.0.1/x", "secret": "s" * 32},
                       "\"url\": no user name or password in the URL; the signature "
                       "authenticates the store"),
                      ({"url": "http://127.0.0.1/x", "secret": "short"},
                       "\"secret\": expected 16 to 1024 bytes without NUL (a random string "
                       "such as: openssl rand -hex 32)")]:
        st, r = store.api("POST", "/v1/packages/hello/webhooks", body, token=alice)
        assert (st, r["error"]["message"]) == (400, msg)


def test_webhook_retried_until_the_receiver_accepts(store, tmp_path):
    secret = b"0123456789abcdef0123456789abcdef"
    (tmp_path / "secret").write_bytes(secret + b"\n")
    with Receiver(fail_first=2) as rx:
        store.start(env={"FERRY_STORE_WEBHOOK_BACKOFF": "1"}, args=ALLOW_LOOPBACK)
        alice = store.account("alice")
        store.owner_tokens["alice"] = alice
        store.ferry(alice, "register", "hello", check=0)
        p = store.ferry(alice, "webhooks", "add", "hello", rx.url, "--secret-file",
                        tmp_path / "secret", check=0)
        hid = p.stdout.split()[2]
        # the secret is stored sealed, never in the clear
        stored = store.sql("SELECT secret FROM webhooks")[0][0]
        assert stored.startswith("v1:") and secret.hex() not in stored
        assert secret.decode() not in stored
        key = os.path.join(store.dir, "webhook-secrets.key")
        assert os.stat(key).st_mode & 0o777 == 0o600

        store.ferry(alice, "push", image(tmp_path, "1.0", OLD), "--release", "stable",
                    check=0)
        store.admin("vulns", "import", write_feed(tmp_path / "feed", [
            osv_record("CVE-2025-0001", MID, "high")]))
        got = wait_for("three attempts", lambda: len(rx.received()) >= 3 and rx.received())
        bodies = {r["body"] for r in got}
        assert len(bodies) == 1, "a retry sends the same bytes"
        for r in got:
            assert r["path"] == "/hooks/ferry"
            assert r["headers"]["Content-Type"] == "application/json"
            assert r["headers"]["X-Ferry-Event"] == "vulnerability-notice"
            assert signature_ok(secret, r["body"], r["headers"]["X-Ferry-Signature"])
            assert not signature_ok(b"another secret", r["body"],
                                    r["headers"]["X-Ferry-Signature"])
        n = json.loads(got[0]["body"])
        assert (n["type"], n["version"], n["package"], n["state"]) == (
            "ferry.vulnerability-notice", 1, "hello", "open")
        assert [(f["revision"], f["channels"], f["component"], f["advisory"],
                 f["fixed_version"]) for f in n["findings"]] == [
            (1, ["latest/stable"], "libssl3", "DEBIAN-CVE-2025-0001", MID)]

        def delivered():
            r = json.loads(store.ferry(alice, "webhooks", "hello", "--json", check=0).stdout)
            d = r["deliveries"]
            return r if d and d[0]["status"] == "delivered" else None
        r = wait_for("the delivery log", delivered)
        assert [h["id"] for h in r["webhooks"]] == [hid]
        d = r["deliveries"][0]
        assert (d["webhook"], d["state"], d["attempts"], d["response"]) == (
            hid, "open", 3, 204)
        p = store.ferry(alice, "webhooks", "hello", check=0)
        assert secret.decode() not in p.stdout + p.stderr
        assert f"{hid} " in p.stdout and rx.url in p.stdout
        line = [ln for ln in p.stdout.splitlines() if ln.startswith(f"{d['id']} ")][0]
        assert line.split()[1:8] == [hid, "hello", "open"] + line.split()[4:5] + [
            "delivered", "3", "204"]

        # the fixed revision: a "cleared" notice follows
        store.ferry(alice, "push", image(tmp_path, "1.1", MID), "--release", "stable",
                    check=0)
        n = wait_for("the cleared notice", lambda: [x for x in rx.notices()
                                                    if x["state"] == "cleared"])[0]
        assert [(f["revision"], f["advisory"], f["cleared_reason"]) for f in
                n["findings"]] == [(1, "DEBIAN-CVE-2025-0001", "not-released")]
        assert store.stop() == 0
    log = store.read_log()
    assert secret.decode() not in log


def test_sample_ci_receiver_runs_the_rebuild_on_a_signed_notice(tmp_path):
    """examples/webhook-receiver/receiver.py, as docs/vulnerabilities.md
    shows it, fed by a real store: the signed notice runs the command, a
    forged one is refused with 401 and runs nothing."""
    import subprocess
    import urllib.error
    import urllib.request
    from conftest import TOP
    from storelib import Store
    secret = tmp_path / "secret"
    secret.write_text(os.urandom(24).hex() + "\n")
    out = tmp_path / "rebuilds"
    rx = subprocess.Popen(
        ["/usr/bin/python3", os.path.join(TOP, "examples/webhook-receiver/receiver.py"),
         "--secret-file", str(secret), "--listen", "127.0.0.1:0", "--",
         "sh", "-c", f'echo "$FERRY_PACKAGE" >> {out}; cat >> {out}.json; echo >> {out}.json'],
        stdout=subprocess.PIPE, text=True)
    store = Store(tmp_path, "sqlite").init()
    try:
        port = int(rx.stdout.readline().split(":")[-1])
        url = f"http://127.0.0.1:{port}/ferry"
        alice = publisher(store)
        store.ferry(alice, "webhooks", "add", "hello", url, "--secret-file", secret, check=0)
        store.ferry(alice, "push", image(tmp_path, "1.0", OLD), "--release", "stable", check=0)
        store.admin("vulns", "import", write_feed(tmp_path / "feed", [
            osv_record("CVE-2025-0001", MID, "high")]))
        wait_for("the rebuild command", lambda: out.exists() and out.read_text())
        assert out.read_text() == "hello\n"
        notice = json.loads(open(f"{out}.json").readline())
        assert notice["findings"][0]["advisory"] == "DEBIAN-CVE-2025-0001"
        forged = json.dumps({**notice, "package": "other"}).encode()
        req = urllib.request.Request(url, data=forged, headers={
            "Content-Type": "application/json",
            "X-Ferry-Signature": "sha256=" + "0" * 64})
        try:
            urllib.request.urlopen(req, timeout=30)
            raise AssertionError("a forged notice was accepted")
        except urllib.error.HTTPError as e:
            assert e.code == 401
        assert out.read_text() == "hello\n"
        assert store.stop() == 0
    finally:
        store.kill()
        rx.terminate()
        rx.wait(timeout=30)
        rx.stdout.close()
