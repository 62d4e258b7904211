"""Helpers for the agent's system tests: build test packages, run a real
ferryd in a temporary root, talk to it with the real `ferry`, and check the
invariant every test of the device relies on: each package runs its old or
its new revision, never neither and never a mix."""
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import textwrap
import time

from conftest import binary, run

# The daemon every test package runs: it answers on $FERRY_COMMON/app.sock
# with the version baked into its image, its revision, its data directory
# (its inode number: inside the sandbox the directory is /ferry/NAME/data,
# bound from the host's ROOT/data/NAME/REV) and what its data says (the
# markers hooks write).
APP_SERVER = """#!/usr/bin/python3
import os, socket
common = os.environ["FERRY_COMMON"]
data = os.environ["FERRY_DATA"]
path = os.path.join(common, "app.sock")
version = open(os.path.join(os.environ["FERRY_PKG"], "VERSION")).read().strip()
print("server", version, "revision", os.environ["FERRY_REVISION"], "starting", flush=True)
s = socket.socket(socket.AF_UNIX)
try:
    os.unlink(path + ".new")
except FileNotFoundError:
    pass
s.bind(path + ".new")
os.rename(path + ".new", path)
s.listen(8)
while True:
    c, _ = s.accept()
    markers = sorted(f for f in os.listdir(data) if f.startswith("mark-"))
    c.sendall(("%s %s %s %s" % (version, os.environ["FERRY_REVISION"], os.stat(data).st_ino,
                                ",".join(markers))).encode())
    c.close()
"""


def sh(body):
    return "#!/bin/sh\n" + textwrap.dedent(body).lstrip("\n")


def build_package(workdir, name="hello", version="1.0", hooks=None, apps=None, health=None,
                  files=None, server=True, extra_yaml=""):
    """Write a package tree and build its image; returns the image path.
    hooks: {hook: shell body}; apps: extra manifest text under apps:;
    files: {relative path: (text, mode)}."""
    tree = os.path.join(workdir, f"{name}-{version}")
    if os.path.exists(tree):
        shutil.rmtree(tree)
    os.makedirs(os.path.join(tree, "meta", "hooks"))
    os.makedirs(os.path.join(tree, "bin"))
    y = [f"name: {name}", f'version: "{version}"', "summary: a test package", "apps:"]
    if server:
        y += ["  server:", "    command: bin/server", "    daemon: simple", "    restart-delay: 100ms",
              "    stop-timeout: 2s"]
    y += ["  hello:", "    command: bin/hello"]
    if apps:
        y += [textwrap.indent(textwrap.dedent(apps).strip("\n"), "  ")]
    if hooks:
        y += ["hooks:"] + [f"  {h}: {{}}" for h in hooks]
    h = {"grace": "300ms", "timeout": "5s", "retries": "0"}
    h.update(health or {})
    y += ["health:"] + [f"  {k}: {v}" for k, v in h.items()]
    if extra_yaml:
        y += [textwrap.dedent(extra_yaml).strip("\n")]
    write(tree, "meta/ferry.yaml", "\n".join(y) + "\n")
    write(tree, "VERSION", version + "\n")
    write(tree, "bin/server", APP_SERVER, 0o755)
    write(tree, "bin/hello", sh('echo "hello $FERRY_NAME $FERRY_REVISION $FERRY_DATA $*"'), 0o755)
    for hook, body in (hooks or {}).items():
        write(tree, f"meta/hooks/{hook}", sh(body), 0o755)
    for rel, (text, mode) in (files or {}).items():
        write(tree, rel, text, mode)
    image = os.path.join(workdir, f"{name}_{version}.ferry")
    make_image(tree, image)
    return image


def write(tree, rel, text, mode=0o644):
    p = os.path.join(tree, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "w") as f:
        f.write(text)
    os.chmod(p, mode)


def make_image(tree, image):
    """The package image of the tree, made by `ferry pack`."""
    if os.path.exists(image):
        os.unlink(image)
    r = run("ferry", "pack", tree, "-o", image, cwd=os.path.dirname(image))
    assert r.returncode == 0, r.stderr


def mounts_under(path):
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].replace("\\040", " ")
            if mp == path or mp.startswith(path + "/"):
                out.append(mp)
    return out


class Agent:
    """A ferryd in a temporary root. Short paths: Unix socket paths are
    limited to 107 bytes."""

    def __init__(self, config=None, user=None):
        """user: run ferryd as this uid (unprivileged: images extracted)."""
        self.dir = tempfile.mkdtemp(prefix="fy", dir="/tmp")
        self.user = user
        if user is not None:
            os.chmod(self.dir, 0o755)
            os.chown(self.dir, user, user)
        self.root = os.path.join(self.dir, "root")
        self.socket = os.path.join(self.dir, "d.sock")
        self.log = os.path.join(self.dir, "ferryd.log")
        self.config = None
        if config:
            self.config = os.path.join(self.dir, "ferryd.conf")
            with open(self.config, "w") as f:
                f.write("".join(f"{k} = {v}\n" for k, v in config.items()))
        self.proc = None

    def start(self, env=None, wait=True):
        args = [binary("ferryd"), "--root", self.root, "--socket", self.socket]
        if self.config:
            args += ["--config", self.config]
        full = dict(os.environ)
        full.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=1")
        full.pop("FERRY_FAULT", None)
        full.pop("FERRY_FAULT_ACTION", None)
        full.update(env or {})
        logf = open(self.log, "a")
        drop = None
        if self.user is not None:
            uid = self.user
            drop = lambda: (os.setgroups([]), os.setgid(uid), os.setuid(uid))  # noqa: E731
        self.proc = subprocess.Popen(args, stdout=logf, stderr=logf, env=full, preexec_fn=drop)
        logf.close()
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"ferryd exited with {self.proc.returncode}:\n{self.logtext()}")
            r = self.api("/v1/system")
            if r and r.get("ready"):
                return
            time.sleep(0.05)
        raise AssertionError("ferryd did not become ready:\n" + self.logtext())

    def api(self, path):
        """GET from the local API (for waiting; assertions use ferry)."""
        try:
            return api_get(self.socket, path)[1]["result"]
        except (OSError, ValueError, IndexError, KeyError):
            return None

    def logtext(self):
        try:
            with open(self.log) as f:
                return f.read()[-8000:]
        except FileNotFoundError:
            return ""

    def ferry_raw(self, *args, **kw):
        env = dict(kw.pop("env", None) or {})
        env["FERRY_SOCKET"] = self.socket
        return run("ferry", *args, env=env, **kw)

    def ferry(self, *args, check=0, **kw):
        p = self.ferry_raw(*args, **kw)
        if check is not None:
            assert p.returncode == check, (
                f"ferry {' '.join(map(str, args))}: exit {p.returncode}, expected {check}\n"
                f"stdout: {p.stdout}\nstderr: {p.stderr}\nferryd log:\n{self.logtext()}")
        return p

    def json(self, *args):
        return json.loads(self.ferry(*args, "--json").stdout)

    def stop(self):
        """SIGTERM and wait; returns ferryd's exit status."""
        if not self.proc or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("ferryd did not stop on SIGTERM:\n" + self.logtext())

    def kill(self):
        """SIGKILL: what a power cut does to ferryd (its services survive)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        if self.proc:
            self.proc.wait()

    def wait_exit(self, timeout=120):
        return self.proc.wait(timeout=timeout)

    def cleanup(self):
        self.kill()
        # what a killed ferryd left running: its pid files name them
        pids = os.path.join(self.root, "run", "pids")
        if os.path.isdir(pids):
            for f in os.listdir(pids):
                try:
                    pid = int(open(os.path.join(pids, f)).read().split()[0])
                    os.killpg(pid, signal.SIGKILL)
                except (OSError, ValueError, IndexError):
                    pass
        for mp in sorted(mounts_under(self.dir), key=len, reverse=True):
            subprocess.run(["umount", "-l", mp], capture_output=True)
        subprocess.run(["chmod", "-R", "u+w", self.dir], capture_output=True)
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- what a user (or a test) checks ---

    def installed(self, name="hello"):
        for p in self.json("list"):
            if p["name"] == name:
                return p
        return None

    def ask(self, name="hello", timeout=30):
        """Ask the package's daemon who it is: (version, revision, inode of its
        data dir, markers). Waits for it to answer (it may be restarting)."""
        path = os.path.join(self.root, "data", name, "common", "app.sock")
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                data = unix_exchange(path, b"", 5)
                v, rev, d, markers = (data.decode().split(" ") + [""])[:4]
                return v, rev, d, [m for m in markers.split(",") if m]
            except OSError as e:
                last = e
                time.sleep(0.05)
        raise AssertionError(f"the app did not answer on {path}: {last}\n{self.logtext()}")

    def check_invariant(self, name="hello", answers=True):
        """Old or new, never neither, never a mix. Returns the revision that
        runs, or None when the package is not installed."""
        p = self.installed(name)
        mnt = os.path.join(self.root, "mnt", name)
        data = os.path.join(self.root, "data", name)
        if p is None:
            assert not os.path.lexists(os.path.join(mnt, "current")), "mnt current left behind"
            assert not os.path.lexists(os.path.join(data, "current")), "data current left behind"
            svcs = [s for s in self.json("services") if s["name"] == name]
            assert svcs == [], svcs
            return None
        rev = p["revision"]
        assert os.readlink(os.path.join(mnt, "current")) == rev
        assert os.readlink(os.path.join(data, "current")) == rev
        assert os.path.isfile(os.path.join(mnt, rev, "meta", "ferry.yaml"))
        assert os.path.isdir(os.path.join(data, rev))
        if answers:
            v, r, d, _ = self.ask(name)
            assert r == rev, f"the daemon runs revision {r}, the agent says {rev}"
            want = os.stat(os.path.join(data, rev)).st_ino
            assert d == str(want), f"code of {rev} with the data of inode {d}, not {want}"
            assert v == p["version"], (v, p)
        return rev


def running_agent():
    """The body of a test's `agent` fixture (`yield from running_agent()`): a
    started ferryd, which must exit 0 on SIGTERM afterwards."""
    a = Agent().start()
    yield a
    status = a.stop()
    log = a.logtext()
    a.cleanup()
    assert status == 0, f"ferryd exited with {status} on SIGTERM:\n{log}"


def unix_exchange(path, request, timeout):
    """Connect to the Unix socket path, send request, read until the peer
    closes."""
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(request)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk
    finally:
        s.close()


def api_get(sock, path):
    """GET path from ferryd's socket: (HTTP status, the JSON answer)."""
    data = unix_exchange(sock, f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode(), 10)
    head, body = data.split(b"\r\n\r\n", 1)
    return int(head.split(b" ")[1]), json.loads(body)


def is_socket(path):
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except FileNotFoundError:
        return False
