"""ferry-tuf-client: the command-line contract (exit 0 or exactly 1), init,
and the download bounds of lib/http against a hostile server on loopback.
The full TUF client workflow is exercised by the conformance suite
(tests/suites.d/tuf-conformance)."""
import http.server
import os
import threading

import pytest

from conftest import TOP, run

ROOT = os.path.join(TOP, "tests", "fuzz", "corpus", "tuf_metadata", "root.json")


class Hostile(http.server.BaseHTTPRequestHandler):
    """No root rotation (404), then a timestamp.json that never ends."""

    def do_GET(self):
        if self.path.endswith(".root.json"):
            self.send_error(404)
            return
        if self.path.endswith("/timestamp.json"):
            self.send_response(200)
            self.end_headers()
            try:
                chunk = b" " * 4096
                for _ in range(100000):  # 400 MB unless the client hangs up
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            return
        self.send_error(404)

    def log_message(self, *args):
        pass


@pytest.fixture
def hostile_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hostile)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/metadata"
    srv.shutdown()
    srv.server_close()


def init(tmp_path):
    md = tmp_path / "metadata"
    md.mkdir()
    run("ferry-tuf-client", "--metadata-dir", md, "init", ROOT, check=0)
    return md


def test_usage_errors_exit_1(tmp_path):
    p = run("ferry-tuf-client")
    assert p.returncode == 1
    assert "usage:" in p.stderr
    p = run("ferry-tuf-client", "--metadata-dir", tmp_path, "--metadata-url", "http://127.0.0.1:9/",
            "frobnicate")
    assert p.returncode == 1
    assert "unknown command frobnicate" in p.stderr
    p = run("ferry-tuf-client", "--metadata-dir", tmp_path, "--metadata-url", "http://127.0.0.1:9/",
            "download")
    assert p.returncode == 1
    assert "download needs --target-name" in p.stderr


def test_init_stores_root_as_given(tmp_path):
    md = init(tmp_path)
    with open(ROOT, "rb") as f, open(md / "root.json", "rb") as g:
        assert f.read() == g.read()
    assert os.listdir(md) == ["root.json"]


def test_refresh_unreachable_repository_fails(tmp_path):
    md = init(tmp_path)
    # port 9 (discard) on loopback: nothing listens there in a test box
    p = run("ferry-tuf-client", "--metadata-dir", md, "--metadata-url", "http://127.0.0.1:9/m",
            "refresh")
    assert p.returncode == 1
    assert "GET http://127.0.0.1:9/m/2.root.json" in p.stderr
    assert sorted(os.listdir(md)) == ["root.json"]


def test_endless_timestamp_is_cut_at_its_bound(tmp_path, hostile_server):
    md = init(tmp_path)
    p = run("ferry-tuf-client", "--metadata-dir", md, "--metadata-url", hostile_server, "refresh",
            timeout=60)
    assert p.returncode == 1
    assert "timestamp: GET" in p.stderr and "more than 16384 bytes" in p.stderr
    # nothing unverified was stored, not even a partial file
    assert sorted(os.listdir(md)) == ["root.json"]


def test_broken_trusted_root_fails_without_network(tmp_path):
    md = tmp_path / "metadata"
    md.mkdir()
    (md / "root.json").write_text('{"signed": {"_type": "root"}, "signatures": []}')
    p = run("ferry-tuf-client", "--metadata-dir", md, "--metadata-url", "http://127.0.0.1:9/",
            "refresh")
    assert p.returncode == 1
    assert "trusted root: root: signed.spec_version: expected a string" in p.stderr
