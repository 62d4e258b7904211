"""The web console under /console/: the files as ferry-store serves them
(types, ETag, Content-Security-Policy, nothing but the compiled-in names:
no path traversal, 404 otherwise), then the console itself in Debian's
headless Chromium, driven through the DevTools protocol (cdp.py) against a
real store with a real ferryd: log in with a token by keyboard, see the
account's packages only, the channel map, a revision's SBOM components and
its open vulnerability notice, the reports of a failing release with the
failed step and log lines, the halt it caused, and the rollout and
inventory views saying when the store does not have them. Every request
the page makes goes to the store on the loopback; anything else would reach
a recorder set as the browser's proxy. Screenshots go to $FERRY_ARTEFACTS
(or the test's temporary directory), under console/."""
import json
import os
import socket
import threading

import pytest

from cdp import Browser
from device import Agent, build_package
from storelib import Store, backend, postgres, store  # noqa: F401 (fixtures)
from test_reports import Device, post, wait_for
from test_vuln_debian import osv_record

CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
       "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'; "
       "require-trusted-types-for 'script'; trusted-types 'none'")
FILES = {"/console/": "text/html; charset=utf-8",
         "/console/index.html": "text/html; charset=utf-8",
         "/console/console.js": "text/javascript; charset=utf-8",
         "/console/console.css": "text/css; charset=utf-8",
         "/console/favicon.svg": "image/svg+xml"}
HOSTILE = '<img src=x onerror="window.pwned=1"><b>bold</b>'
OLD, FIXED = "3.0.17-1~deb12u2", "3.0.20-1~deb12u2"


@pytest.fixture
def console_store(tmp_path):
    """The browser sees the same JSON from either backend: SQLite here."""
    s = Store(tmp_path, "sqlite").init()
    s.owner_tokens = {}
    s.start()
    yield s
    s.kill()


def artefacts(tmp_path):
    base = os.environ.get("FERRY_ARTEFACTS") or str(tmp_path / "artefacts")
    d = os.path.join(base, "console")
    os.makedirs(d, exist_ok=True)
    return d


def test_console_files_and_what_is_refused(console_store):
    store = console_store
    bodies = {}
    for path, ctype in FILES.items():
        status, h, body = store.request("GET", path)
        assert status == 200, path
        assert h["Content-Type"] == ctype, path
        assert h["Content-Security-Policy"] == CSP
        assert h["X-Content-Type-Options"] == "nosniff"
        assert h["Cache-Control"] == "no-cache"
        assert int(h["Content-Length"]) == len(body) > 0
        bodies[path] = (h["ETag"], body)
        # revalidation: 304 without a body
        status, h2, body2 = store.request("GET", path, headers={"If-None-Match": h["ETag"]})
        assert (status, body2, h2["ETag"]) == (304, b"", h["ETag"])
        status, _, body3 = store.request("HEAD", path)
        assert (status, body3) == (200, b"")
    assert bodies["/console/"] == bodies["/console/index.html"]
    html = bodies["/console/"][1].decode()
    # nothing inline for the CSP to refuse, nothing from elsewhere
    assert "<script src=\"console.js\" defer></script>" in html
    assert "<script>" not in html and "style=" not in html and "<style" not in html
    assert "http:" not in html and "https:" not in html

    status, h, _ = store.request("GET", "/console")
    assert (status, h["Location"]) == (301, "/console/")

    # only the compiled-in names: no way out to the store's directory
    secret = open(os.path.join(store.dir, "store.db"), "rb").read(16)
    for path in ["/console/nope.html", "/console/../store.db", "/console/..%2fstore.db",
                 "/console/%2e%2e/%2e%2e/etc/passwd", "/console/..%2f..%2f..%2fetc%2fpasswd",
                 "/console//etc/passwd", "/console/./index.html", "/console/INDEX.HTML",
                 "/console/index.html/",
                 "/console/console/index.html", "/console/.."]:
        status, h, body = store.request("GET", path)
        assert status == 404, path
        assert secret not in body and b"root:" not in body, path
        assert h["Content-Security-Policy"] == CSP, path
    assert store.request("GET", "/consolex")[0] == 404
    # %00 does not end the path early: it names no file
    status, h, body = store.request("GET", "/console/console.js%00.html")
    assert status == 404, body
    assert store.request("GET", "/console/index.html%00")[0] == 404
    # read-only
    for method in ("POST", "PUT", "DELETE"):
        status, _, _ = store.request(method, "/console/index.html", body=b"x")
        assert status == 405, method
    # the API and the repository are not affected
    assert store.request("GET", "/v1/account")[0] == 401
    assert store.request("GET", "/repo/metadata/1.root.json")[0] == 200
    # a clean stop: under AddressSanitizer, nothing leaked
    assert store.stop() == 0, store.read_log()[-3000:]


class Recorder:
    """A proxy that answers nothing: every connection the browser opens to
    it is a request for something off the loopback, recorded."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.seen = []
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def address(self):
        return "127.0.0.1:%d" % self.sock.getsockname()[1]

    def _serve(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            c.settimeout(2)
            try:
                self.seen.append(c.recv(4096).split(b"\r\n")[0].decode(errors="replace"))
            except OSError:
                pass
            c.close()

    def close(self):
        self.sock.close()


def components_yaml(openssl):
    return ("components:\n"
            f"  - name: libssl3\n    version: \"{openssl}\"\n"
            f"    purl: \"pkg:deb/debian/libssl3@{openssl}?arch=amd64&distro=debian-12"
            "&upstream=openssl\"\n"
            "  - name: zlib1g\n    version: \"1:1.2.13.dfsg-1\"\n"
            "    purl: \"pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12"
            "&upstream=zlib\"\n")


@pytest.fixture
def fleet(console_store, tmp_path):
    """alice's hello: revision 1 (bundling an openssl with a notice) on
    stable and installed by a real ferryd; revision 2, whose health check
    fails, released to stable and halted by that device's report. bob's
    package, which alice must not see."""
    store = console_store
    work = str(tmp_path)
    alice = store.account("alice")
    store.owner_tokens["alice"] = alice
    assert store.ferry(alice, "register", "hello").returncode == 0
    bob = store.account("bob")
    assert store.ferry(bob, "register", "bobs-secret").returncode == 0

    img = build_package(work, version="1.0", extra_yaml=components_yaml(OLD))
    assert store.ferry(alice, "push", img, "--release", "stable").returncode == 0
    feed = tmp_path / "feed"
    feed.mkdir()
    (feed / "DEBIAN-CVE-2025-0001.json").write_text(
        json.dumps(osv_record("CVE-2025-0001", FIXED, "high")))
    store.admin("vulns", "import", feed)

    def open_findings():
        p = store.ferry(alice, "vulns", "hello", "--json")
        return json.loads(p.stdout)["findings"]
    wait_for("the notice", open_findings)

    root = os.path.join(store.dir, "repo", "published", "metadata", "1.root.json")
    dev = Agent(config={"store": store.url, "trust": root, "refresh-timer": "every 1h",
                        "retry-delay": "100ms"}).start()
    try:
        assert dev.ferry("install", "hello").returncode == 0
        bad = build_package(work, version="2.0", extra_yaml=components_yaml(FIXED), hooks={
            "check-health": "echo 'connecting to the database'\necho 'no database'; exit 1"})
        assert store.ferry(alice, "push", bad).returncode == 0
        p = store.ferry(alice, "release", "hello", "2", "stable", "--halt-failures", "1")
        assert p.returncode == 0, p.stderr
        dev.ferry("refresh", "hello", check=1)

        def halted():
            p = store.ferry(alice, "status", "hello", "--json")
            return json.loads(p.stdout).get("halts")
        wait_for("the halt", halted)
        # a progressive release on beta
        from storelib import make_image
        assert store.ferry(alice, "release", "hello", "1", "beta").returncode == 0
        img3 = make_image(tmp_path, "hello", "1.1")
        assert store.ferry(alice, "push", img3).returncode == 0
        p = store.ferry(alice, "release", "hello", "3", "beta", "--progressive", "30")
        assert p.returncode == 0, p.stderr
        # a device may send any text: the console must show it as text
        d = Device()
        body = json.dumps(d.report(**{
            "result": "ok", "from-revision": None, "to-revision": 1, "failed-step": None,
            "message": HOSTILE, "log": [HOSTILE, "</pre><script>window.pwned=2</script>"]})
        ).encode()
        status, reply = post(store, body, d.sign(body))
        assert status == 201, reply
        yield store, alice
    finally:
        dev.stop()
        dev.cleanup()


def test_console_in_a_browser(fleet, tmp_path):
    store, token = fleet
    shots = artefacts(tmp_path)
    proxy = Recorder()
    b = Browser(proxy=proxy.address)
    try:
        b.navigate(store.url + "/console/")
        b.wait_for("the login form", "document.getElementById('token') && "
                   "!document.getElementById('login').hidden")
        b.screenshot(os.path.join(shots, "login.png"))

        # by keyboard: Tab to the token field, type, Enter
        b.evaluate("document.activeElement && document.activeElement.blur()")
        for _ in range(8):
            b.tab()
            if b.evaluate("document.activeElement.id") == "token":
                break
        assert b.evaluate("document.activeElement.id") == "token"
        assert b.evaluate("document.querySelector('label[for=token]').textContent") == \
            "Publisher token"
        b.type_text("ferry_" + "0" * 64)
        b.enter()
        b.wait_for("the refusal", "document.getElementById('login-error').textContent")
        assert "Not logged in" in b.evaluate("document.getElementById('login-error').textContent")
        assert b.evaluate("sessionStorage.length") == 0
        b.evaluate("document.getElementById('token').focus()")
        b.type_text(token)
        b.enter()
        b.wait_for("the packages", "document.getElementById('packages')")
        assert b.evaluate("document.getElementById('packages').innerText").split() == ["hello"]
        assert "Logged in as alice" in b.evaluate("document.getElementById('who').textContent")
        assert b.evaluate("Object.values(sessionStorage)") == [token]
        assert b.evaluate("localStorage.length") == 0 and b.evaluate("document.cookie") == ""
        b.screenshot(os.path.join(shots, "packages.png"))
        # "Skip to content" comes before the header's links, moves the
        # focus and leaves the view where it is
        b.evaluate("document.querySelector('.brand').focus()")
        b.tab(shift=True)
        assert b.evaluate("document.activeElement.textContent") == "Skip to content"
        b.enter()
        assert b.evaluate("document.activeElement.id") == "main"
        assert b.evaluate("location.hash") == "#/"
        assert b.evaluate("!!document.getElementById('packages')")

        # the channel map, and the halt: following the link by keyboard
        b.evaluate("document.querySelector('#packages a').focus()")
        b.enter()
        ready = "document.getElementById('view').dataset.ready === '1'"
        b.wait_for("the channel map", ready + " && document.querySelector('table.channel-map')")
        text = b.evaluate("document.getElementById('view').innerText")
        assert "Track latest: what each channel holds, per architecture" in text
        row = b.evaluate("document.querySelector('tr[data-channel=\"latest/stable\"]').innerText")
        assert row.split("\t") == ["stable", "revision 1 (1.0)"]
        beta = b.evaluate("document.querySelector('tr[data-channel=\"latest/beta\"]').innerText")
        assert beta.split("\t") == ["beta",
                                    "revision 1 (1.0)\nprogressive: revision 3 (1.1) to 30 %"]
        edge = b.evaluate("document.querySelector('tr[data-channel=\"latest/edge\"]').innerText")
        assert edge.split("\t") == ["edge", "↑ follows latest/beta"]
        halts = b.evaluate("document.getElementById('halts').innerText")
        assert "latest/stable: full release of revision 2 halted: 1 of 1 devices failed at " \
            in halts
        assert "; back to revision 1" in halts
        b.screenshot(os.path.join(shots, "channels.png"))

        # revisions, an SBOM opened, the notice on revision 1
        b.evaluate("location.hash = '#/p/hello/revisions'")
        b.wait_for("the revisions", ready + " && document.getElementById('rev-1')")
        rev1 = b.evaluate("document.getElementById('rev-1').innerText")
        assert "Revision 1 (1.0)" in rev1 and "in latest/stable, latest/beta" in rev1
        assert "in latest/beta" in b.evaluate("document.getElementById('rev-3').innerText")
        assert "1 open vulnerability notice" in rev1
        assert "DEBIAN-CVE-2025-0001" in rev1 and OLD in rev1 and FIXED in rev1
        assert "open vulnerability" not in b.evaluate("document.getElementById('rev-2').innerText")
        b.evaluate("document.querySelector('#rev-1 details.sbom summary').focus()")
        b.enter()
        b.wait_for("the components", "document.querySelector('#rev-1 table.components')")
        comps = b.evaluate("[...document.querySelectorAll('#rev-1 table.components tbody tr')]"
                           ".map(r => r.cells[0].textContent + ' ' + r.cells[1].textContent)")
        assert comps == [f"libssl3 {OLD}", "zlib1g 1:1.2.13.dfsg-1"]
        b.screenshot(os.path.join(shots, "revisions.png"))

        b.evaluate("location.hash = '#/p/hello/notices'")
        b.wait_for("the notices", ready + " && document.getElementById('notices')")
        notices = b.evaluate("document.getElementById('notices').innerText")
        assert "DEBIAN-CVE-2025-0001" in notices and "high" in notices
        b.screenshot(os.path.join(shots, "notices.png"))

        # the failing release's reports: failed step and log lines
        b.evaluate("location.hash = '#/p/hello/reports?result=failed'")
        b.wait_for("the reports", ready + " && document.querySelector('table.reports')")
        rows = b.evaluate("[...document.querySelectorAll('table.reports tbody tr')]"
                          ".map(r => [...r.cells].map(c => c.innerText))")
        assert len(rows) == 1
        assert rows[0][2:6] == ["1 → 2", "latest/stable", "rolled-back", "health"]
        assert "check-health hook exited with status 1" in rows[0][6]
        b.evaluate("document.querySelector('table.reports details summary').focus()")
        b.enter()
        b.wait_for("the log lines", "document.querySelector('table.reports details[open]')")
        log = b.evaluate("document.querySelector('table.reports pre.log').innerText")
        assert log == "connecting to the database\nno database"
        b.screenshot(os.path.join(shots, "reports.png"))

        # text from devices is shown as it came, never run
        b.evaluate("location.hash = '#/p/hello/reports?result=ok'")
        b.wait_for("the ok reports", ready + " && document.querySelector('table.reports')")
        cell = "document.querySelector('table.reports tbody tr td:last-child')"
        assert b.evaluate(cell + ".querySelector('span').textContent") == HOSTILE
        b.evaluate(cell + ".querySelector('summary').click()")
        b.wait_for("the log lines", cell + ".querySelector('details[open]')")
        assert b.evaluate(cell + ".querySelector('pre').textContent") == \
            HOSTILE + "\n</pre><script>window.pwned=2</script>"
        assert b.evaluate("document.querySelectorAll('#view img, #view b, #view script')"
                          ".length") == 0
        assert b.evaluate("typeof window.pwned") == "undefined"

        # views of endpoints this store may not have
        for slug in ("rollouts", "devices"):
            b.evaluate(f"location.hash = '#/p/hello/{slug}'")
            b.wait_for(slug, ready)
            status, got = store.api("GET", f"/v1/packages/hello/{slug}", token=token)
            shown = b.evaluate("document.getElementById('view').innerText")
            if status == 404:
                assert "not available on this store" in shown, slug
            else:
                assert status == 200 and "not available" not in shown
                for d in got.get("devices", []):
                    assert d["device"] in shown
            b.screenshot(os.path.join(shots, f"{slug}.png"))

        # what the page fetched: only the store, on the loopback
        urls = b.requests()
        assert urls and all(u.startswith(store.url + "/") for u in urls), urls
        assert store.url + "/v1/account" in urls
        doc = [r for r in b.responses() if r["url"] == store.url + "/console/"]
        assert doc and {k.lower(): v for k, v in doc[0]["headers"].items()}[
            "content-security-policy"] == CSP
        assert b.problems() == []
        # Chromium's own background calls (its clock, component updates)
        # reach the recorder, and stop there; none is the console's
        assert not [s for s in proxy.seen if token in s or "/v1/" in s or "/console" in s
                    or "hello" in s], proxy.seen
        # bob's package never appeared
        assert not any("bobs-secret" in u for u in urls)

        # the rollout and inventory views over replies of the documented
        # shapes (docs/store.md), given to the page in place of the store's
        render_documented_shapes(b, shots)
        # and the browser itself refuses to parse a string as HTML there
        assert b.evaluate("(() => { try { document.createElement('div').innerHTML = "
                          "'<b>x</b>'; return 'parsed'; } catch (e) { return e.name; } })()") \
            == "TypeError"

        b.evaluate("document.getElementById('logout').click()")
        b.wait_for("the login form again", "!document.getElementById('login').hidden")
        assert b.evaluate("sessionStorage.length") == 0
    finally:
        b.close()
        proxy.close()


def documented_rollouts(now):
    t0 = now - 20 * 3600
    running = {
        "id": 12, "channel": "latest/stable", "revision": 7, "state": "running",
        "stages": [1, 10, 50, 100], "stage": 2, "percentage": 50, "stage-wait": 21600,
        "stage-min-ok": 1, "halt-failures": 3, "halt-ratio": 20, "started": t0,
        "stage-started": now - 2 * 3600, "finished": None, "next-check": now + 4 * 3600,
        "counts": {"ok": 41, "rolled-back": 2, "pending": 9, "not-seen": 3, "outside": 45,
                   "reporting": 43},
        "stage-counts": [{"stage": 0, "percentage": 1, "started": t0, "ok": 1, "rolled-back": 0},
                         {"stage": 1, "percentage": 10, "started": t0 + 6 * 3600, "ok": 11,
                          "rolled-back": 1},
                         {"stage": 2, "percentage": 50, "started": t0 + 18 * 3600, "ok": 29,
                          "rolled-back": 1}],
        "waiting": {"reason": "stage-wait", "until": now + 4 * 3600,
                    "message": "stage 3 of 4 (50 %) lasts until 4 hours from now"},
        "series": [{"time": t0 + h * 3600, "percentage": 1 if h < 6 else 10 if h < 18 else 50,
                    "ok": [0, 1, 1, 1, 1, 1, 2, 4, 6, 8, 9, 10, 10, 11, 11, 12, 12, 12, 20, 33,
                           41][h],
                    "failed": 0 if h < 15 else 1 if h < 19 else 2} for h in range(21)],
        "events": [{"time": t0, "event": "started", "stage": 0, "percentage": 1},
                   {"time": t0 + 6 * 3600, "event": "stage", "stage": 1, "percentage": 10},
                   {"time": t0 + 18 * 3600, "event": "stage", "stage": 2, "percentage": 50}]}
    halted = dict(running, id=11, channel="latest/beta", revision=6, state="halted", stage=0,
                  percentage=1, finished=t0 - 3600, started=t0 - 5 * 3600,
                  counts={"ok": 1, "rolled-back": 3, "pending": 0, "not-seen": 0,
                          "outside": 0, "reporting": 4},
                  **{"stage-counts": [{"stage": 0, "percentage": 1, "started": t0 - 5 * 3600,
                                       "ok": 1, "rolled-back": 3}]},
                  waiting={"reason": "halted", "until": None,
                           "message": "halted: 3 of 4 devices failed"},
                  series=[{"time": t0 - 5 * 3600, "percentage": 1, "ok": 0, "failed": 0},
                          {"time": t0 - 3 * 3600, "percentage": 1, "ok": 1, "failed": 1},
                          {"time": t0 - 3600, "percentage": 1, "ok": 1, "failed": 3}],
                  events=[{"time": t0 - 5 * 3600, "event": "started", "stage": 0,
                           "percentage": 1},
                          {"time": t0 - 3600, "event": "halted", "stage": 0, "percentage": 1,
                           "failed": 3, "reporting": 4}])
    return {"package": "hello", "rollouts": [running, halted]}


def documented_devices(now):
    return {"package": "hello", "time": now,
            "weekly-active": {"total": 120,
                              "by-revision": [{"revision": 7, "devices": 62},
                                              {"revision": 6, "devices": 58}],
                              "by-channel": [{"channel": "latest/stable", "devices": 104},
                                             {"channel": "latest/beta", "devices": 16}],
                              "by-arch": [{"arch": "amd64", "devices": 90},
                                          {"arch": "arm64", "devices": 30}]},
            "devices": [{"device": "d%02d" % i, "revision": 7 if i % 2 else 6,
                         "channel": "latest/stable", "arch": "amd64", "agent-version": "0.1.0",
                         "held": i == 3, "last-seen": now - i * 600,
                         "first-seen": now - 30 * 86400} for i in range(1, 6)],
            "truncated": False}


def render_documented_shapes(b, shots):
    import time
    now = int(time.time())
    stub = """(() => {
      const replies = {rollouts: %s, devices: %s};
      const real = window.fetch;
      window.fetch = (url, opts) => {
        const m = String(url).match(/\\/v1\\/packages\\/[^/]+\\/(rollouts|devices)\\?/);
        if (!m) return real(url, opts);
        return Promise.resolve(new Response(JSON.stringify(replies[m[1]]),
          {status: 200, headers: {"Content-Type": "application/json"}}));
      };
    })()""" % (json.dumps(documented_rollouts(now)), json.dumps(documented_devices(now)))
    b.evaluate(stub)
    ready = "document.getElementById('view').dataset.ready === '1'"
    b.evaluate("location.hash = '#/p/hello/rollouts'")
    b.wait_for("the rollouts", ready + " && document.getElementById('rollout-12')")
    text = b.evaluate("document.getElementById('rollout-12').innerText")
    assert "latest/stable: revision 7 — running" in text
    assert "Stage 3 of 4 (50 %), each at least 6 h" in text
    assert "stage 3 of 4 (50 %) lasts until" in text
    assert b.evaluate("document.querySelector('#rollout-12 [aria-current=step]').textContent") \
        == "50 %"
    counts = b.evaluate("[...document.querySelectorAll('#rollout-12 dl.counts div')]"
                        ".map(d => d.innerText.replace('\\n', '='))")
    assert counts == ["ok=41", "rolled back=2", "pending=9", "not seen=3", "later stages=45"]
    per_stage = b.evaluate("[...document.querySelectorAll('#rollout-12 table.stage-counts tbody "
                           "tr')].map(r => [...r.cells].map(c => c.textContent))")
    assert [[r[0], r[1], r[3], r[4]] for r in per_stage] == [
        ["1", "1 %", "1", "0"], ["2", "10 %", "11", "1"], ["3", "50 %", "29", "1"]]
    # the chart: a labelled image with the three lines
    assert b.evaluate("document.querySelector('#rollout-12 svg.chart title').textContent") == \
        "Rollout of revision 7 to latest/stable"
    paths = b.evaluate("[...document.querySelectorAll('#rollout-12 svg.chart path')]"
                       ".map(p => p.getAttribute('class') + ':' + p.getAttribute('d').length)")
    assert [p.split(":")[0] for p in paths] == ["pct", "ok", "failed"]
    assert all(int(p.split(":")[1]) > 50 for p in paths)
    assert "halted: 3 of 4 devices failed" in b.evaluate(
        "document.getElementById('rollout-11').innerText")
    b.screenshot(os.path.join(shots, "rollouts-documented.png"))

    b.evaluate("location.hash = '#/p/hello/devices'")
    b.wait_for("the inventory", ready + " && document.getElementById('inventory')")
    assert "120 devices active in the last 7 days." in b.evaluate(
        "document.getElementById('view').innerText")
    bars = b.evaluate("[...document.querySelectorAll('#inventory svg desc')]"
                      ".map(d => d.textContent)")
    assert bars == ["revision 7: 62; revision 6: 58", "latest/stable: 104; latest/beta: 16",
                    "amd64: 90; arm64: 30"]
    b.screenshot(os.path.join(shots, "devices-documented.png"))
    assert b.problems() == []


def test_components_of_a_revision(store, tmp_path):
    """GET /v1/packages/NAME/revisions/REV/components, which the console's
    revision view reads: the SBOM's components, or "sbom": false; only for
    the package's publishers; 404 for a revision that does not exist."""
    from storelib import make_image
    from vulnlib import libssl3, sbom
    store.start()
    alice = store.account("alice")
    bob = store.account("bob")
    assert store.ferry(alice, "register", "hello").returncode == 0
    img = make_image(tmp_path, "hello", "1.0", extra={
        "meta/sbom.cdx.json": sbom("hello", "1.0", [libssl3(OLD)])})
    assert store.ferry(alice, "push", img).returncode == 0
    assert store.ferry(alice, "push", make_image(tmp_path, "hello", "2.0")).returncode == 0
    path = "/v1/packages/hello/revisions/%s/components"
    status, r = store.api("GET", path % 1, token=alice)
    assert status == 200
    assert r == {"package": "hello", "revision": 1, "version": "1.0", "sbom": True,
                 "components": [{"type": "library", "name": "libssl3", "version": OLD,
                                 "purl": libssl3(OLD)}]}
    status, r = store.api("GET", path % 2, token=alice)
    assert (status, r["sbom"], r["components"]) == (200, False, [])
    for rev in ("3", "0", "x", "01x", "99999999999999999999"):
        status, r = store.api("GET", path % rev, token=alice)
        assert (status, r["error"]["code"]) == (404, "not-found"), rev
    status, r = store.api("GET", path % 1, token=bob)
    assert (status, r["error"]["code"]) == (403, "forbidden")
    assert store.api("GET", path % 1)[0] == 401
    assert store.api("GET", "/v1/packages/nope/revisions/1/components", token=alice)[0] == 404
    assert store.stop() == 0, store.read_log()[-3000:]


def login(b, store, token):
    b.navigate(store.url + "/console/")
    b.wait_for("the login form", "document.getElementById('token')")
    b.evaluate(f"sessionStorage.setItem('ferry-console-token', {json.dumps(token)})")


def got_state(rollouts, channel):
    """The state of the newest rollout on channel."""
    return max((r for r in rollouts if r["channel"] == channel), key=lambda r: r["id"])["state"]


def test_console_rollout_view(console_store, tmp_path):
    """A store with staged rollouts: the console shows a paused one with
    its stage, counts and chart, and a halted one, from the store's own
    replies. Skipped by a store without them (the view then says "not
    available", checked above)."""
    from storelib import make_image
    store = console_store
    alice = store.account("alice")
    assert store.ferry(alice, "register", "hello").returncode == 0
    for v in ("1.0", "2.0", "3.0"):
        assert store.ferry(alice, "push", make_image(tmp_path, "hello", v)).returncode == 0
    assert store.ferry(alice, "release", "hello", "1", "stable").returncode == 0
    if store.api("GET", "/v1/packages/hello/rollouts", token=alice)[0] == 404:
        pytest.skip("this store has no staged rollouts")

    def rollouts():
        return store.api("GET", "/v1/packages/hello/rollouts?all=1", token=alice)[1]["rollouts"]

    def report(rev, channel, result):
        d = Device()
        over = {"to-revision": rev, "channel": channel, "result": result}
        if result == "ok":
            over.update({"failed-step": None, "message": "", "log": []})
        body = json.dumps(d.report(**over)).encode()
        status, reply = post(store, body, d.sign(body))
        assert status == 201, reply

    p = store.ferry(alice, "release", "hello", "2", "stable", "--stages", "1,50,100",
                    "--stage-wait", "3s")
    assert p.returncode == 0, p.stderr
    report(2, "latest/stable", "ok")
    wait_for("stage 2", lambda: [r for r in rollouts() if r["stage"] >= 1])
    p = store.ferry(alice, "rollout", "pause", "hello", "stable")
    assert p.returncode == 0, p.stderr
    p = store.ferry(alice, "release", "hello", "3", "beta", "--stages", "1,100",
                    "--stage-wait", "1h", "--halt-failures", "2")
    assert p.returncode == 0, p.stderr
    report(3, "latest/beta", "rolled-back")
    report(3, "latest/beta", "rolled-back")
    wait_for("the halt", lambda: [r for r in rollouts() if r["state"] == "halted"])
    got = {r["channel"]: r for r in rollouts()}

    b = Browser()
    try:
        login(b, store, alice)
        b.evaluate("location.hash = '#/p/hello/rollouts'")
        b.wait_for("the rollouts", "document.getElementById('view').dataset.ready === '1' && "
                   "document.querySelectorAll('section.rollout').length === 2")
        stable = got["latest/stable"]
        sec = f"document.getElementById('rollout-{stable['id']}')"
        text = b.evaluate(sec + ".innerText")
        assert "latest/stable: revision 2 — paused" in text
        assert f"Stage {stable['stage'] + 1} of 3 ({stable['percentage']} %)" in text
        assert b.evaluate(sec + ".querySelector('dl.counts div').innerText").split() == \
            ["ok", "1"]
        # the devices that reported during each stage reached, as the store counts them
        per_stage = b.evaluate(f"[...{sec}.querySelectorAll('table.stage-counts tbody tr')]"
                               ".map(r => [...r.cells].map(c => c.textContent))")
        assert per_stage == [[str(s["stage"] + 1), f"{s['percentage']} %",
                              b.evaluate(f"when({s['started']})"), str(s["ok"]),
                              str(s["rolled-back"])] for s in stable["stage-counts"]]
        assert stable["stage-counts"][0]["ok"] == 1
        assert b.evaluate(sec + ".querySelectorAll('svg.chart path').length") == 3
        beta = got["latest/beta"]
        text = b.evaluate(f"document.getElementById('rollout-{beta['id']}').innerText")
        assert "latest/beta: revision 3 — halted" in text
        # its failures are drawn even when they all came within a second
        failed = b.evaluate(f"document.querySelector('#rollout-{beta['id']} svg.chart "
                            "path.failed').getAttribute('d')")
        assert failed.count("L") >= 1, failed
        # a halted rollout has no buttons; the paused one is resumed from here
        assert b.evaluate(f"document.querySelectorAll('#rollout-{beta['id']} button').length") == 0
        b.screenshot(os.path.join(artefacts(tmp_path), "rollouts-store.png"))
        b.evaluate(sec + ".querySelector('button.resume').click()")
        wait_for("resumed", lambda: got_state(rollouts(), "latest/stable") != "paused")
        b.wait_for("the view drawn again", f"document.getElementById('view').dataset.ready === '1'"
                   f" && !!{sec} && /revision 2 — (running|done)/.test({sec}.innerText)")
        # stop asks twice; then the revision is withdrawn as a halt would
        if got_state(rollouts(), "latest/stable") == "running":
            b.evaluate(sec + ".querySelector('button.stop').click()")
            assert "press again" in b.evaluate(sec + ".querySelector('button.stop').textContent")
            assert got_state(rollouts(), "latest/stable") == "running"
            b.evaluate(sec + ".querySelector('button.stop').click()")
            wait_for("stopped", lambda: got_state(rollouts(), "latest/stable") == "stopped")
            b.wait_for("the stopped view", f"document.getElementById('view').dataset.ready === '1'"
                       f" && !!{sec} && {sec}.innerText.includes('revision 2 — stopped')")
        assert b.problems() == []
    finally:
        b.close()


def test_console_starts_a_staged_rollout(console_store, tmp_path):
    """The rollouts view's form starts a staged rollout, by keyboard, with
    the body `ferry release --stages --stage-wait` sends: a refusal is
    shown in the store's words at the field it names and starts nothing;
    then the rollout the store began is shown and focused, at stage 1 with
    the stages asked for."""
    from storelib import make_image
    store = console_store
    alice = store.account("alice")
    assert store.ferry(alice, "register", "hello").returncode == 0
    for v in ("1.0", "2.0"):
        assert store.ferry(alice, "push", make_image(tmp_path, "hello", v)).returncode == 0
    assert store.ferry(alice, "release", "hello", "1", "stable").returncode == 0

    def rollouts():
        status, r = store.api("GET", "/v1/packages/hello/rollouts?all=1", token=alice)
        assert status == 200, r
        return r["rollouts"]

    shots = artefacts(tmp_path)
    b = Browser()
    try:
        b.navigate(store.url + "/console/")
        b.wait_for("the login form", "document.getElementById('token') && "
                   "!document.getElementById('login').hidden")
        b.evaluate("document.getElementById('token').focus()")
        b.type_text(alice)
        b.enter()
        b.wait_for("the packages", "document.getElementById('packages')")
        b.evaluate("location.hash = '#/p/hello/rollouts'")
        ready = "document.getElementById('view').dataset.ready === '1'"
        b.wait_for("the form", ready + " && document.getElementById('start-rollout')")
        labels = b.evaluate("[...document.querySelectorAll('#start-rollout label')]"
                            ".map(l => l.textContent + '=' + document.getElementById("
                            "l.htmlFor).value)")
        assert labels == ["Revision=", "Channel=", "Stages=1,10,50,100", "Stage wait=6h"]

        # by keyboard: each field reached by Tab, its text replaced
        b.evaluate("document.getElementById('start-revision').focus()")
        b.type_text("2")
        for want, text in (("start-channel", "stable"), ("start-stages", "1,10"),
                           ("start-wait", "1h")):
            b.tab()
            assert b.evaluate("document.activeElement.id") == want
            b.evaluate("document.activeElement.select()")
            b.type_text(text)
        b.enter()
        b.wait_for("the refusal", "document.getElementById('start-error').textContent")
        assert b.evaluate("document.getElementById('start-error').textContent") == \
            'Not started: "stages": the last stage must be 100'
        assert b.evaluate("document.activeElement.id") == "start-stages"
        assert b.evaluate("document.activeElement.getAttribute('aria-invalid')") == "true"
        assert rollouts() == []
        b.screenshot(os.path.join(shots, "rollout-refused.png"))

        b.evaluate("document.activeElement.select()")
        b.type_text("2,20,100")
        b.enter()
        b.wait_for("the new rollout", ready + " && document.querySelector('section.rollout')")
        got = rollouts()
        assert len(got) == 1, got
        ro = got[0]
        assert (ro["channel"], ro["revision"], ro["state"]) == ("latest/stable", 2, "running")
        assert (ro["stage"], ro["percentage"], ro["stages"]) == (0, 2, [2, 20, 100])
        assert ro["stage-wait"] == 3600
        status, m = store.api("GET", "/v1/packages/hello/status", token=alice)
        stable = [c for c in m["channels"] if c["channel"] == "latest/stable"][0]
        assert stable["revision"] == 1 and stable["progressive"]["revision"] == 2
        assert stable["progressive"]["percentage"] == 2
        sec = f"document.getElementById('rollout-{ro['id']}')"
        text = b.evaluate(sec + ".innerText")
        assert "latest/stable: revision 2 — running" in text
        assert "Stage 1 of 3 (2 %), each at least 1 h" in text
        assert b.evaluate(sec + ".querySelector('[aria-current=step]').textContent") == "2 %"
        assert b.evaluate("document.activeElement.id") == f"rollout-{ro['id']}-h"
        assert b.evaluate("document.getElementById('start-error').textContent") == ""
        b.screenshot(os.path.join(shots, "rollout-started.png"))
        assert b.problems() == []
    finally:
        b.close()
