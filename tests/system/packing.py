"""Helpers for the system tests of ferry pack and ferry inspect: package
trees written from a dict, the .deb cache shared by every test of one pytest
run, hashes, and the independent squashfs reader (unsquashfs)."""
import atexit
import hashlib
import os
import shutil
import subprocess
import tempfile

from conftest import TOP

EPOCH = "1700000000"

MANIFEST = """\
name: hello
version: "1.0"
summary: Says hello
license: MIT
apps:
  hello:
    command: bin/hello
  server:
    command: bin/server
    daemon: simple
    plugs: [network-bind]
hooks:
  check-health: {}
"""

FILES = {
    "bin/hello": ("#!/bin/sh\necho hello\n", 0o755),
    "bin/server": ("#!/bin/sh\nwhile :; do sleep 10; done\n", 0o755),
    "meta/hooks/check-health": ("#!/bin/sh\nexit 0\n", 0o755),
    "share/greeting.txt": ("Hello, world.\n", 0o644),
    "share/empty": ("", 0o644),
}

_deb_cache = None


def deb_cache():
    """One folder of .debs for the whole test run, so each .deb is fetched
    once; ferry still checks each against apt's SHA-256 before using it."""
    global _deb_cache
    if _deb_cache is None:
        _deb_cache = tempfile.mkdtemp(prefix="ferry-test-debs-")
        atexit.register(shutil.rmtree, _deb_cache, True)
    return _deb_cache


def write_tree(root, manifest=MANIFEST, files=None, links=None, order=None, mtime=None):
    """Write a package tree: meta/ferry.yaml, files {path: (text|bytes, mode)}
    and links {path: target}. order reverses creation when "reverse"."""
    files = dict(FILES if files is None else files)
    if manifest is not None:
        files["meta/ferry.yaml"] = (manifest, 0o644)
    items = sorted(files.items(), reverse=(order == "reverse"))
    os.makedirs(root, exist_ok=True)
    for path, (content, mode) in items:
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "wb") as f:
            f.write(content.encode() if isinstance(content, str) else content)
        os.chmod(full, mode)
    for path, target in sorted((links or {}).items(), reverse=(order == "reverse")):
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        os.symlink(target, full)
    if mtime is not None:
        for dirpath, dirnames, filenames in os.walk(root):
            for n in dirnames + filenames:
                os.utime(os.path.join(dirpath, n), (mtime, mtime), follow_symlinks=False)
    return root


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def sha512(path):
    with open(path, "rb") as f:
        return hashlib.sha512(f.read()).hexdigest()


def unsquashfs_extract(image, dest):
    """Extract with squashfs-tools, a reader ferry does not share code with."""
    p = subprocess.run(["unsquashfs", "-q", "-n", "-d", str(dest), str(image)],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return dest


def unsquashfs_list(image):
    """unsquashfs -lls: one (mode, owner, size, path, target) per entry."""
    p = subprocess.run(["unsquashfs", "-lls", "-n", str(image)], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    rows = []
    for line in p.stdout.splitlines():
        parts = line.split(None, 5)
        if len(parts) < 6 or not parts[5].startswith("squashfs-root"):
            continue
        mode, owner, size, _date, _time, rest = parts
        path, _, target = rest.partition(" -> ")
        rows.append((mode, owner, int(size), path[len("squashfs-root"):].lstrip("/"), target or None))
    return rows


def unsquashfs_cat(image, path):
    p = subprocess.run(["unsquashfs", "-cat", str(image), path], capture_output=True)
    assert p.returncode == 0, p.stderr
    return p.stdout


def tree_contents(root):
    """{path: (kind, mode & 0o777, bytes or link target)} of a tree."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for n in dirnames + filenames:
            full = os.path.join(dirpath, n)
            rel = os.path.relpath(full, root)
            st = os.lstat(full)
            if os.path.islink(full):
                out[rel] = ("link", None, os.readlink(full))
            elif os.path.isdir(full):
                out[rel] = ("dir", None, None)
            else:
                with open(full, "rb") as f:
                    out[rel] = ("file", st.st_mode & 0o111 != 0, f.read())
    return out


def interop_dir():
    return os.path.join(TOP, "tests", "interop")
