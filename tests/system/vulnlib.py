"""Helpers for the store's vulnerability tests: an SBOM for a test image, a
webhook receiver on 127.0.0.1 that records what it gets (and can be told to
fail first), signature checks done the way a publisher's CI would, and a
poll for what the store does in the background."""
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def sbom(name, version, purls):
    """A CycloneDX document listing purls as libraries (the shape ferry pack
    writes; the store reads only components[].purl)."""
    comps = []
    for p in purls:
        bin_name = p.split("/")[2].split("@")[0]
        ver = p.split("@")[1].split("?")[0]
        comps.append({"type": "library", "name": bin_name, "version": ver, "purl": p})
    return json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
                       "metadata": {"component": {"type": "application", "name": name,
                                                  "version": version}},
                       "components": comps}).encode()


def libssl3(version):
    return (f"pkg:deb/debian/libssl3@{version}?arch=amd64&distro=debian-12"
            "&upstream=openssl")


def wait_for(what, fn, timeout=90):
    """Poll fn until it returns something true; fail naming what."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")


def signature_ok(secret, body, header):
    """What a receiver must do: HMAC-SHA256 of the raw body, compared in
    constant time with the header's hex."""
    want = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(want, header)


class Receiver:
    """An HTTP server on 127.0.0.1 that records every POST (headers, raw
    body) and answers fail_first times with HTTP 500 before answering 204."""

    def __init__(self, fail_first=0):
        self.requests = []
        self.fail_first = fail_first
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(n)
                with outer.lock:
                    outer.requests.append({"path": self.path, "headers": dict(self.headers),
                                           "body": body})
                    failing = len(outer.requests) <= outer.fail_first
                self.send_response(500 if failing else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/ferry"

    def received(self):
        with self.lock:
            return list(self.requests)

    def notices(self):
        return [json.loads(r["body"]) for r in self.received()]
