"""Helpers for the TUF system tests: a repository written by ferry's writer
(driven through tests/tools/tuf-repo-tool), an HTTP server on 127.0.0.1 that
serves it and can be told to misbehave the way a hostile mirror would, the
two clients (ferry-tuf-client and tuf-js through tests/interop/client.js),
and an attacker who re-signs metadata with keys it stole.

Nothing here talks to anything but 127.0.0.1, and every server stops when
its test ends."""
import base64
import hashlib
import http.server
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.parse

import pytest

from conftest import BUILD, TOP, run

TOOL = os.path.join(BUILD, "tests/tools/tuf-repo-tool")
INTEROP = os.path.join(TOP, "tests/interop")


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def canonical(obj):
    """Canonical JSON (OLPC) of what these tests sign: no reals, no control
    characters, so sorted keys and no whitespace is the whole rule."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class Repo:
    """A repository made and edited by ferry's writer. Remembers the digest
    of every metadata file it ever published (`genuine`), so a test can
    check that a client stored nothing else."""

    def __init__(self, path, track=True):
        self.path = str(path)
        self.track = track
        self.published = os.path.join(self.path, "published")
        self.metadata = os.path.join(self.published, "metadata")
        self.targets = os.path.join(self.published, "targets")
        self.genuine = set()

    def tool(self, *args, check=0, env=None):
        if not os.path.exists(TOOL):
            pytest.fail(f"{TOOL} is not built; run tests/run")
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        p = subprocess.run([TOOL, *map(str, args)], capture_output=True, text=True,
                           env=full_env, timeout=600)
        if check is not None:
            assert p.returncode == check, (
                f"tuf-repo-tool {' '.join(map(str, args))}: exit {p.returncode}\n{p.stderr}")
        self.remember()
        return p

    def remember(self):
        if self.track and os.path.isdir(self.metadata):
            for name in os.listdir(self.metadata):
                with open(os.path.join(self.metadata, name), "rb") as f:
                    self.genuine.add(sha256(f.read()))

    def init(self, *opts):
        self.tool("init", self.path, *opts)
        return self

    def edit(self, verb, *args, **kw):
        return self.tool(verb, self.path, *args, **kw)

    def target_path(self, package, file):
        return self.tool("target-path", package, file).stdout.strip()

    def add_target(self, package, file, content, tmp):
        src = os.path.join(str(tmp), "src-" + file)
        with open(src, "wb") as f:
            f.write(content)
        self.edit("add-target", package, file, src)
        return self.target_path(package, file)

    def version(self, role):
        return int(self.edit("version", role).stdout)

    def read(self, name):
        with open(os.path.join(self.metadata, name), "rb") as f:
            return f.read()

    def load(self, name):
        return json.loads(self.read(name))

    def key_file(self, keyid):
        return os.path.join(self.path, "keys", keyid + ".pem")

    def role_keyids(self, role):
        """Key IDs of a top-level role in the newest root."""
        v = self.version("root")
        return self.load(f"{v}.root.json")["signed"]["roles"][role]["keyids"]

    def target_url_path(self, tpath, content):
        """Where a target is published (consistent snapshot: HASH.NAME)."""
        d, base = tpath.rsplit("/", 1)
        return f"targets/{d}/{sha256(content)}.{base}"


def sign(signed, key_files):
    """An envelope of signed with a signature from each PKCS#8 key file (key
    ID = the file's name, as ferry's writer names them)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding
    data = canonical(signed)
    sigs = []
    for path in key_files:
        with open(path, "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
        if isinstance(key, ed25519.Ed25519PrivateKey):
            sig = key.sign(data)
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            sig = key.sign(data, ec.ECDSA(hashes.SHA256()))
        else:
            sig = key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                             salt_length=32), hashes.SHA256())
        keyid = os.path.basename(path)[:-len(".pem")]
        sigs.append({"keyid": keyid, "sig": sig.hex()})
    return canonical({"signatures": sigs, "signed": signed})


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):
        srv = self.server.owner
        rel = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).lstrip("/")
        with srv.lock:
            srv.requests.append(rel)
        if rel in srv.hang:
            srv.stop.wait(300)
            return
        if rel in srv.endless:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.end_headers()
            chunk = b"{" * 65536
            sent, deadline = 0, time.monotonic() + 120
            try:
                while not srv.stop.is_set() and sent < (1 << 30) and time.monotonic() < deadline:
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    srv.count(len(chunk))
            except OSError:
                pass
            self.close_connection = True
            return
        if rel in srv.overrides:
            body = srv.overrides[rel]
        else:
            full = os.path.realpath(os.path.join(srv.root, rel))
            if not full.startswith(os.path.realpath(srv.root) + os.sep) or not os.path.isfile(full):
                self.send_error(404)
                return
            with open(full, "rb") as f:
                body = f.read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Content-Type", "application/octet-stream")
        self.end_headers()
        try:
            if rel in srv.trickle:
                for i in range(len(body)):
                    if srv.stop.wait(srv.trickle[rel]):
                        break
                    self.wfile.write(body[i:i + 1])
                    self.wfile.flush()
                    srv.count(1)
            else:
                self.wfile.write(body)
                srv.count(len(body))
        except OSError:
            pass


class TamperServer:
    """Serves `root` on 127.0.0.1 over HTTP. What it serves can be changed:
    overrides[path] = bytes (swap or replay a file), endless (paths answered
    with data that never ends), trickle[path] = seconds between bytes, hang
    (paths never answered). requests lists the paths asked for;
    bytes_sent counts body bytes."""

    def __init__(self, root):
        self.root = str(root)
        self.overrides, self.endless, self.trickle, self.hang = {}, set(), {}, set()
        self.requests, self.bytes_sent = [], 0
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def count(self, n):
        with self.lock:
            self.bytes_sent += n

    def reset_counters(self):
        with self.lock:
            self.requests, self.bytes_sent = [], 0

    @property
    def base(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


class Client:
    """One TUF client with its own metadata and target directories: ferry's
    (`ferry-tuf-client`) or tuf-js (tests/interop/client.js)."""

    def __init__(self, tmp, server, kind="ferry", name="client"):
        self.kind = kind
        self.server = server
        self.mdir = os.path.join(str(tmp), name + "-metadata")
        self.tdir = os.path.join(str(tmp), name + "-targets")
        os.makedirs(self.tdir, exist_ok=True)

    def _run(self, *args, env=None, timeout=300):
        if self.kind == "ferry":
            return run("ferry-tuf-client", *args, env=env, timeout=timeout)
        return subprocess.run(["node", os.path.join(INTEROP, "client.js"), *map(str, args)],
                              capture_output=True, text=True, env=dict(os.environ, **(env or {})),
                              timeout=timeout)

    def init(self, root_file):
        p = self._run("--metadata-dir", self.mdir, "init", root_file)
        assert p.returncode == 0, p.stderr
        return self

    def refresh(self, **kw):
        return self._run("--metadata-url", self.server.base + "/metadata",
                         "--metadata-dir", self.mdir, "refresh", **kw)

    def download(self, *names, **kw):
        args = []
        for n in names:
            args += ["--target-name", n]
        return self._run("--metadata-url", self.server.base + "/metadata", "--metadata-dir",
                         self.mdir, *args, "--target-dir", self.tdir, "--target-base-url",
                         self.server.base + "/targets/", "download", **kw)

    def stored(self):
        return sorted(os.listdir(self.mdir))

    def metadata(self, name):
        with open(os.path.join(self.mdir, name), "rb") as f:
            return f.read()

    def target_file(self, tpath):
        return os.path.join(self.tdir, urllib.parse.quote(tpath, safe=""))

    def assert_only_verified(self, repo, targets=None):
        """Every file in the metadata dir is one the writer published, under
        a role's name; every file in the target dir is a target it
        published, with the content it published."""
        for name in os.listdir(self.mdir):
            assert name.endswith(".json"), f"stray file {name} in the metadata dir"
            assert sha256(self.metadata(name)) in repo.genuine, (
                f"{name} in the metadata dir is not metadata the repository published")
        for name in os.listdir(self.tdir):
            with open(os.path.join(self.tdir, name), "rb") as f:
                data = f.read()
            tpath = urllib.parse.unquote(name)
            d, base = tpath.rsplit("/", 1)
            published = os.path.join(repo.targets, d, f"{sha256(data)}.{base}")
            assert os.path.isfile(published), f"{name} in the target dir was not published"
            if targets is not None:
                assert tpath in targets, f"{tpath} in the target dir was not asked for"


def refused(p, *words):
    """The client refused: exit status exactly 1, and its message names the
    cause (each of words, case-insensitively, in stderr)."""
    assert p.returncode == 1, f"exit {p.returncode}, expected 1\nstderr: {p.stderr}"
    for w in words:
        assert w.lower() in p.stderr.lower(), f"'{w}' not in the message: {p.stderr}"


def accepted(p):
    assert p.returncode == 0, f"exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"


def need_node():
    """tuf-js from npm (tests/interop/package-lock.json), installed with
    `npm ci` the first time."""
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.fail("node and npm are needed for the tuf-js tests (scripts/install-deps)")
    if not os.path.isdir(os.path.join(INTEROP, "node_modules", "tuf-js")):
        p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=INTEROP,
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, f"npm ci in tests/interop failed:\n{p.stderr}"


@pytest.fixture
def serve():
    """serve(root) -> a TamperServer on 127.0.0.1, closed after the test."""
    servers = []

    def make(root):
        s = TamperServer(root)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.close()


class World:
    """A small store: packages hello and world with an image and a channel
    map each, published by ferry's writer and served over HTTP, and a ferry
    client that trusts its first root and has refreshed once."""

    def __init__(self, tmp, serve, init_opts=(), kind="ferry"):
        self.tmp = tmp
        self.repo = Repo(tmp / "repo").init("--bin-digits", "1", *init_opts)
        self.repo.edit("add-package", "hello", "world")
        self.content = {}
        for pkg in ("hello", "world"):
            self.add(pkg, f"{pkg}_1_amd64.ferry", f"image of {pkg} revision 1\n".encode())
            self.add(pkg, "channels.json",
                     json.dumps({"latest/stable": 1}).encode())
        self.server = serve(self.repo.published)
        self.root1 = os.path.join(self.repo.metadata, "1.root.json")
        self.client = Client(tmp, self.server, kind).init(self.root1)

    def add(self, pkg, file, content):
        tpath = self.repo.add_target(pkg, file, content, self.tmp)
        self.content[tpath] = content
        return tpath

    def path(self, pkg, file):
        return self.repo.target_path(pkg, file)

    def url(self, tpath):
        return self.repo.target_url_path(tpath, self.content[tpath])


@pytest.fixture
def world(tmp_path, serve):
    return World(tmp_path, serve)
