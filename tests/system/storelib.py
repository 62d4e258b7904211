"""Helpers and fixtures for the store's system tests: a real ferry-store
over SQLite or over a private PostgreSQL server started here, package images
built with mksquashfs, and checks that the database, the blobs and the
published TUF repository agree.

PostgreSQL: Debian's server binaries run as the `postgres` user when the
tests run as root (initdb refuses root), on 127.0.0.1 and a free port, in a
temporary directory, and are stopped at the end of the session."""
import atexit
import glob
import hashlib
import http.client
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time

import pytest

from conftest import binary, run

PG_USER = "ferry"
# the store's newest schema version (src/store/schema.c)
SCHEMA_LATEST = 9


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- PostgreSQL ---------------------------------------------------------

class Postgres:
    def __init__(self):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            pytest.fail("PostgreSQL server binaries are missing: run scripts/install-deps")
        self.bin = os.path.dirname(bins[-1])
        self.dir = tempfile.mkdtemp(prefix="ferry-pg-")
        self.port = free_port()
        self.as_user = []
        if os.geteuid() == 0:
            os.chmod(self.dir, 0o755)
            shutil.chown(self.dir, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.data = os.path.join(self.dir, "data")
        self.n = 0

    def _run(self, *args):
        p = subprocess.run(self.as_user + list(args), capture_output=True, text=True,
                           cwd=self.dir, timeout=120)
        assert p.returncode == 0, f"{args}: {p.stdout}{p.stderr}"
        return p

    def start(self):
        self._run(f"{self.bin}/initdb", "-D", self.data, "-A", "trust", "-U", PG_USER,
                  "-E", "UTF8", "--no-sync")
        opts = (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} "
                "-c fsync=off -c max_connections=200")
        self._run(f"{self.bin}/pg_ctl", "-D", self.data, "-o", opts, "-l",
                  os.path.join(self.dir, "log"), "-w", "start")

    def stop(self):
        subprocess.run(self.as_user + [f"{self.bin}/pg_ctl", "-D", self.data, "-m", "immediate",
                                       "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, db="postgres"):
        return f"postgresql://{PG_USER}@127.0.0.1:{self.port}/{db}"

    def psql(self, db, sql):
        p = subprocess.run([f"{self.bin}/psql", "-X", "-At", "-v", "ON_ERROR_STOP=1",
                            "-d", self.url(db), "-c", sql], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 0, p.stderr
        return p.stdout

    def new_database(self):
        self.n += 1
        name = f"store{self.n}"
        self.psql("postgres", f"CREATE DATABASE {name}")
        return name


_server = None


def _shared_postgres():
    """One server for the whole pytest process (every test module imports the
    fixture, and pytest would otherwise make one per module), stopped when
    the process exits."""
    global _server
    if _server is None:
        pg = Postgres()
        atexit.register(pg.stop)
        pg.start()
        _server = pg
    return _server


@pytest.fixture(scope="session")
def postgres():
    return _shared_postgres()


# --- images -------------------------------------------------------------

MANIFEST = """name: {name}
version: "{version}"
summary: A test package
description: A package made by the store's tests.
license: MIT
architectures: [{arch}]
confinement: strict
grade: stable
apps:
  {name}:
    command: bin/{name}
"""


def make_image(tmp, name="hello", version="1.0", arch="amd64", extra=None, pseudo=(),
               manifest=None, payload=b""):
    """Build NAME_VERSION_ARCH.ferry with mksquashfs from a small tree; extra
    maps relative paths to bytes (or ("link", target)); pseudo adds mksquashfs
    pseudo definitions (devices, setuid files) without needing root."""
    root = os.path.join(str(tmp), f"tree-{name}-{version}-{arch}-{time.monotonic_ns()}")
    os.makedirs(os.path.join(root, "meta"))
    os.makedirs(os.path.join(root, "bin"))
    with open(os.path.join(root, "meta", "ferry.yaml"), "w") as f:
        f.write(manifest if manifest is not None else
                MANIFEST.format(name=name, version=version, arch=arch))
    with open(os.path.join(root, "bin", name), "w") as f:
        f.write("#!/bin/sh\necho hello from %s %s\n" % (name, version))
    os.chmod(os.path.join(root, "bin", name), 0o755)
    if payload:
        with open(os.path.join(root, "payload.bin"), "wb") as f:
            f.write(payload)
    for rel, content in (extra or {}).items():
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if isinstance(content, tuple) and content[0] == "link":
            os.symlink(content[1], p)
        else:
            with open(p, "wb") as f:
                f.write(content)
    out = os.path.join(str(tmp), f"{name}_{version}_{arch}.ferry")
    if os.path.exists(out):
        os.unlink(out)
    args = ["mksquashfs", root, out, "-noappend", "-quiet", "-all-root", "-comp", "gzip",
            "-no-progress", "-mkfs-time", "0", "-all-time", "0"]
    for p in pseudo:
        args += ["-p", p]
    subprocess.run(args, check=True, capture_output=True)
    return out


# --- the store ----------------------------------------------------------

class Store:
    """One store directory and database, and a server process over them."""

    def __init__(self, tmp, backend, postgres=None, max_upload=None):
        self.tmp = str(tmp)
        self.dir = os.path.join(self.tmp, "store")
        self.backend = backend
        self.pg = postgres
        if backend == "postgresql":
            self.dbname = postgres.new_database()
            self.db = postgres.url(self.dbname)
        else:
            self.db = None
        self.port = None
        self.proc = None
        self.max_upload = max_upload
        self.log_path = os.path.join(self.tmp, "store.log")
        self.config_home = os.path.join(self.tmp, "config")

    def admin(self, *args, check=0, env=None):
        extra = ["--dir", self.dir] + (["--db", self.db] if self.db else [])
        return run("ferry-store", *args, *extra, check=check, env=env)

    def init(self):
        self.admin("init")
        return self

    def start(self, env=None, port=None, args=()):
        self.port = port or self.port or free_port()
        args = [binary("ferry-store"), "serve", "--dir", self.dir, "--listen",
                f"127.0.0.1:{self.port}", "--threads", "3", *args]
        if self.db:
            args += ["--db", self.db]
        if self.max_upload:
            args += ["--max-upload", str(self.max_upload)]
        full_env = dict(os.environ)
        full_env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        full_env.update(env or {})
        self.log = open(self.log_path, "a")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, text=True,
                                     env=full_env)
        line = self.proc.stdout.readline()
        assert "listening" in line, f"ferry-store did not start: {line}\n{self.read_log()}"
        return self

    def read_log(self):
        with open(self.log_path) as f:
            return f.read()

    def stop(self):
        """SIGTERM and wait: a clean stop exits 0 (and under ASan, no leaks)."""
        if not self.proc:
            return 0
        self.proc.terminate()
        rc = self.proc.wait(timeout=90)
        self.proc.stdout.close()
        self.log.close()
        self.proc = None
        return rc

    def kill(self):
        if self.proc:
            self.proc.kill()
            self.proc.wait(timeout=30)
            self.proc.stdout.close()
            self.log.close()
            self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def account(self, name):
        p = self.admin("account", "add", name)
        return p.stdout.strip()

    def token(self, name):
        return self.admin("account", "token", name).stdout.strip()

    def env(self, token=None):
        e = {"XDG_CONFIG_HOME": self.config_home, "HOME": self.tmp}
        if token:
            e.update({"FERRY_STORE": self.url, "FERRY_TOKEN": token})
        return e

    def ferry(self, token, *args, check=None, **kw):
        return run("ferry", *args, check=check, env=self.env(token), **kw)

    # raw HTTP, for what the CLI would never send
    def request(self, method, path, body=None, headers=None, token=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict(r.getheaders()), data

    def api(self, method, path, body=None, token=None, headers=None):
        status, _, data = self.request(method, path, body, headers, token)
        try:
            return status, json.loads(data)
        except ValueError:
            return status, data

    # --- what the store holds ---------------------------------------------

    def sql(self, query):
        if self.backend == "postgresql":
            out = self.pg.psql(self.dbname, query)
            return [tuple(line.split("|")) for line in out.splitlines() if line]
        con = sqlite3.connect(os.path.join(self.dir, "store.db"), timeout=30)
        try:
            return [tuple("" if v is None else str(v) for v in row)
                    for row in con.execute(query).fetchall()]
        finally:
            con.close()

    def published(self, rel):
        with open(os.path.join(self.dir, "repo", "published", rel), "rb") as f:
            return f.read()

    def blobs(self):
        return sorted(os.path.basename(p) for p in
                      glob.glob(os.path.join(self.dir, "blobs", "sha256", "*", "*")))

    def sql_many(self, queries):
        if self.backend == "postgresql":
            args = [f"{self.pg.bin}/psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", "-d",
                    self.pg.url(self.dbname)]
            for q in queries:
                args += ["-c", q, "-c", "SELECT '@@'"]
            p = subprocess.run(args, capture_output=True, text=True, timeout=60)
            assert p.returncode == 0, p.stderr
            parts = p.stdout.split("@@\n")
            return [[tuple(line.split("|")) for line in part.splitlines() if line]
                    for part in parts[:len(queries)]]
        return [self.sql(q) for q in queries]

    def state(self):
        """Everything a failed request must leave unchanged."""
        names = ("packages", "revisions", "channels", "collaborators")
        tables = dict(zip(names, self.sql_many(
            [f"SELECT * FROM {t} ORDER BY 1, 2" for t in names])))
        files = sorted(os.path.relpath(p, self.dir) for p in
                       glob.glob(os.path.join(self.dir, "repo", "published", "**"),
                                 recursive=True))
        uploads = os.listdir(os.path.join(self.dir, "tmp"))
        return {"tables": tables, "blobs": self.blobs(), "published": files,
                "timestamp": self.published("metadata/timestamp.json"),
                "uploads": uploads}

    def check_consistent(self):
        """The database, the blobs and the published metadata agree: every
        revision's blob is there with its hash; every package's published
        channels.json is the database's channel map at its generation; every
        target the metadata names exists with its hash and length."""
        for pkg, rev, sha, size in self.sql(
                "SELECT package, revision, sha256, size FROM revisions"):
            path = os.path.join(self.dir, "blobs", "sha256", sha[:2], sha)
            assert os.path.exists(path), f"{pkg} revision {rev}: blob {sha} missing"
            with open(path, "rb") as f:
                data = f.read()
            assert len(data) == int(size)
            assert hashlib.sha256(data).hexdigest() == sha
        meta = lambda n: json.loads(self.published(f"metadata/{n}"))
        ts = meta("timestamp.json")
        snap_v = ts["signed"]["meta"]["snapshot.json"]["version"]
        snap = meta(f"{snap_v}.snapshot.json")["signed"]["meta"]
        roles = {}
        for name, info in snap.items():
            role = name[:-len(".json")]
            roles[role] = meta(f"{info['version']}.{name}")["signed"]
        for pkg, map_gen, pub_gen in self.sql(
                "SELECT name, map_gen, published_gen FROM packages"):
            assert map_gen == pub_gen, f"{pkg}: generation {map_gen} not published ({pub_gen})"
            role = roles.get(f"pkg-{pkg}")
            if int(map_gen) == 0:
                continue
            assert role, f"{pkg}: no published role"
            targets = role["targets"]
            chan = [t for t in targets if t.endswith(f"/{pkg}/channels.json")]
            assert len(chan) == 1
            info = targets[chan[0]]
            assert info["custom"]["generation"] == int(map_gen)
            for tpath, tinfo in targets.items():
                h = tinfo["hashes"]["sha256"]
                d, f = tpath.rsplit("/", 1)
                data = self.published(f"targets/{d}/{h}.{f}")
                assert len(data) == tinfo["length"]
                assert hashlib.sha256(data).hexdigest() == h
            h = info["hashes"]["sha256"]
            d, f = chan[0].rsplit("/", 1)
            published_map = json.loads(self.published(f"targets/{d}/{h}.{f}"))
            # the database's map, as the store computes it now
            owner = self.sql(f"SELECT owner FROM packages WHERE name = '{pkg}'")[0][0]
            status, live = self.api("GET", f"/v1/packages/{pkg}/status",
                                    token=self.owner_tokens[owner])
            assert status == 200, live
            assert published_map["channels"] == live["channels"], pkg
            assert published_map["generation"] == live["generation"]
            for rev, r in published_map["revisions"].items():
                assert any(t.endswith(f"/{pkg}/{r['target']}") for t in targets), \
                    f"{pkg}: revision {rev} is in the map but not a target"

    owner_tokens = {}


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request):
    return request.param


@pytest.fixture
def store(tmp_path, backend, request):
    pg = request.getfixturevalue("postgres") if backend == "postgresql" else None
    s = Store(tmp_path, backend, pg).init()
    s.owner_tokens = {}
    yield s
    s.kill()
