"""docs/nginx/ferry-store.conf, as documented in docs/store.md, really works:
nginx with TLS in front of a ferry-store, the publisher flow through it
(login, register, push streamed through the proxy, release) and the static
tree served by nginx straight from the store's directory, byte for byte what
the store published, with the documented caching headers."""
import hashlib
import json
import os
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import TOP
from storelib import Store, free_port, make_image

CONF = os.path.join(TOP, "docs", "nginx", "ferry-store.conf")


@pytest.fixture
def nginx_store(tmp_path):
    store = Store(tmp_path, "sqlite").init().start()
    store.owner_tokens = {}
    crt, key = tmp_path / "store.crt", tmp_path / "store.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-days", "2", "-keyout", key,
                    "-out", crt], check=True, capture_output=True)
    port = free_port()
    site = open(CONF).read()
    for old, new in (("127.0.0.1:8470", f"127.0.0.1:{store.port}"),
                     ("listen 443", f"listen 127.0.0.1:{port}"),
                     ("/etc/ssl/ferry/store.crt", str(crt)),
                     ("/etc/ssl/ferry/store.key", str(key)),
                     ("/var/lib/ferry-store", store.dir)):
        assert old in site, old
        site = site.replace(old, new)
    prefix = tmp_path / "nginx"
    prefix.mkdir()
    (prefix / "site.conf").write_text(site)
    user = "user root;\n" if os.geteuid() == 0 else ""
    (prefix / "nginx.conf").write_text(
        f"{user}worker_processes 1;\nerror_log {prefix}/error.log;\npid {prefix}/nginx.pid;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"  access_log {prefix}/access.log;\n"
        "  default_type application/octet-stream;\n"
        f"  client_body_temp_path {prefix}/body; proxy_temp_path {prefix}/proxy;\n"
        f"  fastcgi_temp_path {prefix}/f; uwsgi_temp_path {prefix}/u; scgi_temp_path {prefix}/s;\n"
        f"  include {prefix}/site.conf;\n"
        "}\n")
    proc = subprocess.Popen(["nginx", "-p", str(prefix), "-c", str(prefix / "nginx.conf"),
                             "-g", "daemon off;"], stderr=subprocess.PIPE, text=True)
    ctx = ssl.create_default_context(cafile=str(crt))
    url = f"https://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(url + "/repo/metadata/1.root.json", context=ctx, timeout=5)
            break
        except (urllib.error.URLError, ConnectionError):
            assert proc.poll() is None, proc.stderr.read()
            time.sleep(0.1)
    try:
        yield store, url, ctx, str(crt)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        store.kill()


def get(url, ctx, headers=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        r = urllib.request.urlopen(req, context=ctx, timeout=30)
        return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_publish_through_nginx(nginx_store, tmp_path):
    store, url, ctx, ca = nginx_store
    alice = store.account("alice")
    store.owner_tokens["alice"] = alice
    env = dict(store.env(), FERRY_CA_FILE=ca)
    from conftest import run
    p = run("ferry", "login", "--store", url, input=alice + "\n", env=env, check=0)
    assert p.stdout == f"logged in to {url} as alice\n"
    run("ferry", "register", "hello", env=env, check=0)
    img = make_image(tmp_path, "hello", "1.0", payload=os.urandom(3 * 1024 * 1024))
    p = run("ferry", "push", img, "--release", "stable", env=env, check=0)
    assert p.stdout == "released hello revision 1 to latest/stable\n"
    # without the CA, the CLI refuses the self-signed certificate
    p = run("ferry", "whoami", env=store.env(), check=1)
    assert "SSL" in p.stderr or "certificate" in p.stderr

    store.check_consistent()
    st, h, body = get(url + "/repo/metadata/timestamp.json", ctx)
    assert st == 200
    assert body == store.published("metadata/timestamp.json")
    assert h["Cache-Control"] == "no-cache"
    assert "ETag" not in h and "Last-Modified" not in h
    ts = json.loads(body)["signed"]
    snap_v = ts["meta"]["snapshot.json"]["version"]
    st, h, snap = get(url + f"/repo/metadata/{snap_v}.snapshot.json", ctx)
    assert st == 200
    assert h["Cache-Control"] == "public, max-age=31536000, immutable"
    pkg_v = json.loads(snap)["signed"]["meta"]["pkg-hello.json"]["version"]
    st, _, role = get(url + f"/repo/metadata/{pkg_v}.pkg-hello.json", ctx)
    targets = json.loads(role)["signed"]["targets"]
    prefix = hashlib.sha256(b"hello").hexdigest()[:4]
    info = targets[f"{prefix}/hello/hello_1.ferry"]
    h256 = info["hashes"]["sha256"]
    st, h, image = get(url + f"/repo/targets/{prefix}/hello/{h256}.hello_1.ferry", ctx)
    assert st == 200 and image == open(img, "rb").read()
    # resuming a download
    st, h, part = get(url + f"/repo/targets/{prefix}/hello/{h256}.hello_1.ferry", ctx,
                      {"Range": "bytes=1000-"})
    assert st == 206 and part == image[1000:]
    # the API errors come through untouched
    st, _, body = get(url + "/v1/account", ctx)
    assert st == 401
    assert json.loads(body)["error"]["code"] == "auth-required"
    assert store.stop() == 0, store.read_log()


def test_console_through_nginx(nginx_store):
    """The web console through the documented config: its files with the
    store's headers untouched, revalidation, the redirect of /console, and
    the API it calls on the same host."""
    store, url, ctx, _ = nginx_store
    direct = {}
    for name in ("", "console.js", "console.css", "favicon.svg"):
        _, h, body = store.request("GET", "/console/" + name)
        direct[name] = (h, body)
        st, hn, bodyn = get(url + "/console/" + name, ctx)
        assert (st, bodyn) == (200, body), name
        for k in ("Content-Type", "Content-Security-Policy", "ETag", "Cache-Control",
                  "X-Content-Type-Options"):
            assert hn[k] == h[k], (name, k)
        st, _, again = get(url + "/console/" + name, ctx, {"If-None-Match": h["ETag"]})
        assert (st, again) == (304, b""), name
    r = urllib.request.urlopen(url + "/console", context=ctx, timeout=30)
    assert r.geturl() == url + "/console/" and r.read() == direct[""][1]
    assert get(url + "/console/../store.db", ctx)[0] in (400, 404)
    alice = store.account("alice")
    st, _, body = get(url + "/v1/account", ctx, {"Authorization": "Bearer " + alice})
    assert st == 200 and json.loads(body)["account"] == "alice"
