"""Webhooks cannot be turned against the store's machine or its private
networks: a publisher who points a webhook at a loopback, link-local or
private address (literally, or by a name that resolves to one) is refused
when adding it, a webhook whose destination is such an address by the time
it is delivered is not delivered, redirects are not followed, and the
delivery log shows generic causes, never the receiver's words. The store's
operator can allow such destinations with `ferry-store serve
--webhook-allow-private` (every other webhook test runs so: their receivers
listen on the loopback)."""
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from storelib import Store, free_port
from test_vuln_debian import osv_record
from test_vuln_store import MID, OLD, image, write_feed
from vulnlib import Receiver, wait_for

ALLOW = ("--webhook-allow-private",)
FAST = {"FERRY_STORE_WEBHOOK_BACKOFF": "1"}


class Answering:
    """An HTTP server on 127.0.0.1 that answers every POST with status,
    headers and body as given, and counts the POSTs."""

    def __init__(self, status, headers=(), body=b""):
        self.count = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                outer.count += 1
                self.send_response(status)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def publisher(store, tmp_path):
    alice = store.account("alice")
    store.owner_tokens["alice"] = alice
    store.ferry(alice, "register", "hello", check=0)
    secret = tmp_path / "secret"
    secret.write_text(os.urandom(24).hex() + "\n")
    return alice, secret


def add(store, alice, secret, url, check=0):
    return store.ferry(alice, "webhooks", "add", "hello", url, "--secret-file", secret,
                       check=check)


def notice(store, alice, tmp_path):
    """A finding opens: every webhook of hello gets a notice to deliver."""
    store.ferry(alice, "push", image(tmp_path, "1.0", OLD), "--release", "stable", check=0)
    store.admin("vulns", "import", write_feed(tmp_path / "feed", [
        osv_record("CVE-2025-0001", MID, "high")]))


def attempted(store, alice, hooks):
    """The newest delivery of each hook, once every one was attempted."""
    r = json.loads(store.ferry(alice, "webhooks", "hello", "--json", check=0).stdout)
    last = {}
    for d in r["deliveries"]:
        if d["attempts"] >= 1:
            last.setdefault(d["webhook"], d)
    return last if set(hooks) <= set(last) else None


def test_private_destinations_are_refused_when_added(tmp_path):
    store = Store(tmp_path, "sqlite").init()
    store.start()
    try:
        alice, secret = publisher(store, tmp_path)
        port = free_port()
        for url, cause in [
                (f"http://127.0.0.1:{port}/hook", "127.0.0.1 is a loopback address"),
                (f"http://localhost:{port}/hook", "localhost resolves to "),
                ("http://169.254.169.254/latest/meta-data/",
                 "169.254.169.254 is a link-local address"),
                ("http://10.1.2.3/hook", "10.1.2.3 is a private address (10.0.0.0/8)"),
                ("https://192.168.1.1/hook", "192.168.1.1 is a private address"),
                ("http://100.64.0.1/hook", "carrier-grade NAT"),
                ("http://0.0.0.0:80/hook", "0.0.0.0 is a \"this network\" address"),
                (f"http://[::1]:{port}/hook", "::1 is a loopback address"),
                (f"http://[::ffff:127.0.0.1]:{port}/hook", "a loopback address"),
                ("http://[fd00::1]/hook", "a unique local address"),
                (f"http://2130706433:{port}/hook", "a loopback address"),
                (f"http://127.1:{port}/hook", "a loopback address")]:
            p = add(store, alice, secret, url, check=1)
            assert url in p.stderr and cause in p.stderr, p.stderr
            assert "--webhook-allow-private" in p.stderr
        r = json.loads(store.ferry(alice, "webhooks", "hello", "--json", check=0).stdout)
        assert r["webhooks"] == []
    finally:
        assert store.stop() == 0


def test_private_destinations_are_not_delivered(tmp_path):
    """Hooks whose destination is (or resolves to) the loopback when the
    notice is sent: added while the operator allowed them, or by a name that
    resolved elsewhere then. The check is on the address connected to."""
    store = Store(tmp_path, "sqlite").init()
    with Receiver() as rx:
        store.start(args=ALLOW)
        try:
            alice, secret = publisher(store, tmp_path)
            port = rx.server.server_address[1]
            hooks = [add(store, alice, secret, url).stdout.split()[2]
                     for url in (rx.url, f"http://localhost:{port}/hooks/ferry")]
            assert store.stop() == 0
            store.start(env=FAST)
            notice(store, alice, tmp_path)
            last = wait_for("the attempts", lambda: attempted(store, alice, hooks))
            for h in hooks:
                assert (last[h]["status"], last[h]["response"], last[h]["error"]) == (
                    "retrying", None, "destination not allowed")
            assert rx.received() == []
        finally:
            assert store.stop() == 0
    assert "destination not allowed" in store.read_log()


def test_delivery_log_shows_generic_causes_and_redirects_are_not_followed(tmp_path):
    store = Store(tmp_path, "sqlite").init()
    target = Answering(204)
    failing = Answering(500, body=b"internal error: password=hunter2 at db.internal")
    redirecting = Answering(302, headers=[("Location", target.url)],
                            body=b"see http://db.internal/")
    closed = f"http://127.0.0.1:{free_port()}/hook"
    try:
        store.start(env=FAST, args=ALLOW)
        alice, secret = publisher(store, tmp_path)
        hooks = {add(store, alice, secret, url).stdout.split()[2]: want
                 for url, want in [(failing.url, (500, "HTTP 500")),
                                   (redirecting.url, (302, "HTTP 302")),
                                   (closed, (None, "connection refused"))]}
        notice(store, alice, tmp_path)
        last = wait_for("the attempts", lambda: attempted(store, alice, hooks))
        for h, (response, error) in hooks.items():
            assert (last[h]["response"], last[h]["error"]) == (response, error)
        assert target.count == 0, "the redirect was followed"
        assert failing.count >= 1 and redirecting.count >= 1
        shown = store.ferry(alice, "webhooks", "hello", check=0).stdout
        for word in ("hunter2", "db.internal", "Connection refused", "Failed to connect"):
            assert word not in shown
    finally:
        assert store.stop() == 0
        for s in (target, failing, redirecting):
            s.close()
