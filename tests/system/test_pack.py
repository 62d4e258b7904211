"""ferry pack on real trees: the output a publisher sees, the image read back
by an independent reader (unsquashfs), byte-identical packs of the same
content, and every refusal with its exact message and exit code."""
import os
import stat
import subprocess

import pytest

from conftest import run
from packing import (EPOCH, FILES, MANIFEST, sha256, tree_contents, unsquashfs_extract,
                     unsquashfs_list, write_tree)

ARCH = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                      check=True).stdout.strip()


def pack(*args, check=None, cwd=None, epoch=EPOCH):
    env = {"SOURCE_DATE_EPOCH": epoch} if epoch is not None else {}
    return run("ferry", "pack", *args, check=check, cwd=cwd, env=env)


def test_pack_writes_name_version_arch_and_reports_size_and_hash(tmp_path):
    tree = write_tree(tmp_path / "hello")
    out = tmp_path / "out"
    out.mkdir()
    p = pack(tree, check=0, cwd=out)
    image = out / f"hello_1.0_{ARCH}.ferry"
    assert image.exists()
    lines = p.stdout.splitlines()
    assert lines == [f"hello_1.0_{ARCH}.ferry",
                     f"  size:   {image.stat().st_size} bytes",
                     f"  sha256: {sha256(image)}"]
    assert p.stderr == ""  # not a terminal: no progress


def test_pack_output_option_and_architectures(tmp_path):
    manifest = MANIFEST.replace('version: "1.0"', 'version: "2.1"\narchitectures: [amd64, arm64]')
    tree = write_tree(tmp_path / "t", manifest=manifest)
    p = pack(tree, check=0, cwd=tmp_path)
    assert p.stdout.splitlines()[0] == "hello_2.1_multi.ferry"
    one = MANIFEST.replace('version: "1.0"', 'version: "2.1"\narchitectures: [all]')
    tree2 = write_tree(tmp_path / "t2", manifest=one)
    pack(tree2, check=0, cwd=tmp_path)
    assert (tmp_path / "hello_2.1_all.ferry").exists()
    pack(tree2, "-o", tmp_path / "x" / "named.img", check=1)  # no such folder
    pack(tree2, "-o", tmp_path / "named.img", check=0)
    assert (tmp_path / "named.img").exists()


@pytest.mark.parametrize("compression", ["zstd", "xz", "lz4"])
def test_compression_is_read_back_by_unsquashfs(tmp_path, compression):
    tree = write_tree(tmp_path / "t")
    image = tmp_path / "hello.ferry"
    pack(tree, "-o", image, "--compression", compression, check=0)
    p = subprocess.run(["unsquashfs", "-s", image], capture_output=True, text=True, check=True)
    assert f"Compression {compression}" in p.stdout
    got = run("ferry", "inspect", "--json", image, check=0)
    assert f'"compression": "{compression}"' in got.stdout


def test_unsquashfs_reads_the_same_tree(tmp_path):
    """An independent reader sees exactly the tree, plus the SBOM, owned by
    root, with the SOURCE_DATE_EPOCH timestamp."""
    links = {"share/link": "greeting.txt", "bin/hi": "hello"}
    tree = write_tree(tmp_path / "t", links=links)
    os.makedirs(tmp_path / "t" / "var" / "empty-dir")
    image = tmp_path / "hello.ferry"
    pack(tree, "-o", image, check=0)

    got = tree_contents(unsquashfs_extract(image, tmp_path / "x"))
    want = tree_contents(tree)
    assert got.pop("meta/sbom.cdx.json")[0] == "file"
    assert got == want

    rows = unsquashfs_list(image)
    assert {r[1] for r in rows} == {"root/root"}
    by_path = {r[3]: r for r in rows}
    assert by_path["bin/hello"][0] == "-rwxr-xr-x"
    assert by_path["share/greeting.txt"][0] == "-rw-r--r--"
    assert by_path["share/greeting.txt"][2] == len("Hello, world.\n")
    assert by_path["share/link"][4] == "greeting.txt"
    assert by_path["var/empty-dir"][0].startswith("d")
    for path in ("bin/hello", "share/greeting.txt", "meta/sbom.cdx.json"):
        assert os.lstat(tmp_path / "x" / path).st_mtime == int(EPOCH)


def _tree_in_subprocess(root, order, umask, mtime):
    """Create the tree in a child with its own umask (files then get other
    permission bits for group write) and order of creation."""
    code = f"""
import os, sys
sys.path.insert(0, {os.path.dirname(__file__)!r})
os.umask({umask})
from packing import write_tree, FILES
files = {{p: (c, (0o777 if m & 0o111 else 0o666) & ~{umask}) for p, (c, m) in FILES.items()}}
files.update({{f"data/{{i:03}}": (str(i) * i, 0o666 & ~{umask}) for i in range(40)}})
write_tree({str(root)!r}, files=files, order={order!r}, mtime={mtime},
           links={{"share/link": "greeting.txt"}})
"""
    subprocess.run(["/usr/bin/python3", "-c", code], check=True)


def test_same_content_gives_the_same_bytes(tmp_path):
    _tree_in_subprocess(tmp_path / "a", "forward", 0o022, 1_000_000_000)
    _tree_in_subprocess(tmp_path / "b", "reverse", 0o002, 1_600_000_000)
    assert os.stat(tmp_path / "a/share/greeting.txt").st_mode & 0o777 == 0o644
    assert os.stat(tmp_path / "b/share/greeting.txt").st_mode & 0o777 == 0o664
    one, two = tmp_path / "one.ferry", tmp_path / "two.ferry"
    pack(tmp_path / "a", "-o", one, check=0)
    pack(tmp_path / "b", "-o", two, check=0)
    assert one.read_bytes() == two.read_bytes()
    # and another timestamp gives other bytes
    three = tmp_path / "three.ferry"
    pack(tmp_path / "a", "-o", three, check=0, epoch="1700000001")
    assert three.read_bytes() != one.read_bytes()


def test_without_source_date_epoch_every_time_is_zero(tmp_path):
    tree = write_tree(tmp_path / "t")
    a, b = tmp_path / "a.ferry", tmp_path / "b.ferry"
    pack(tree, "-o", a, check=0, epoch=None)
    os.utime(tmp_path / "t" / "bin" / "hello", (5, 5))
    pack(tree, "-o", b, check=0, epoch="0")
    assert a.read_bytes() == b.read_bytes()
    unsquashfs_extract(a, tmp_path / "x")
    assert os.lstat(tmp_path / "x" / "bin" / "hello").st_mtime == 0


@pytest.mark.parametrize("value", ["yesterday", "-1", "1.5", "4294967296", ""])
def test_bad_source_date_epoch(tmp_path, value):
    tree = write_tree(tmp_path / "t")
    p = pack(tree, "-o", tmp_path / "x.ferry", check=1, epoch=value)
    assert p.stderr == (
        "ferry: pack: SOURCE_DATE_EPOCH: expected seconds since 1970 as a whole number from 0 "
        f"to 4294967295; got \"{value}\"\n")
    assert not (tmp_path / "x.ferry").exists()


def test_version_control_and_earlier_images_are_left_out(tmp_path):
    tree = write_tree(tmp_path / "t")
    os.makedirs(tmp_path / "t" / ".git" / "objects")
    (tmp_path / "t" / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (tmp_path / "t" / "old_0.9_amd64.ferry").write_text("an earlier pack")
    (tmp_path / "t" / "share" / ".git").write_text("kept: only the top is special")
    first = pack(tree, check=0, cwd=tmp_path / "t")          # writes into the tree itself
    image = tmp_path / "t" / first.stdout.splitlines()[0]
    second = pack(tree, check=0, cwd=tmp_path / "t")         # packs again over it
    assert first.stdout == second.stdout
    got = tree_contents(unsquashfs_extract(image, tmp_path / "x"))
    assert ".git" not in got and "old_0.9_amd64.ferry" not in got
    assert not any(p.endswith(".ferry") for p in got)
    assert "share/.git" in got


def test_usage_errors(tmp_path):
    p = run("ferry", "pack", check=2)
    assert p.stderr.startswith("ferry: pack: which directory? (ferry pack DIR)\nusage: ferry pack DIR")
    p = run("ferry", "pack", "a", "b", check=2)
    assert p.stderr.startswith("ferry: pack: one DIR only\n")
    p = run("ferry", "pack", "--frobnicate", "a", check=2)
    assert p.stderr.startswith("ferry: pack: unknown option or missing value: --frobnicate\n")
    p = run("ferry", "pack", "a", "--compression", "gzip", check=2)
    assert p.stderr.startswith('ferry: pack: --compression: expected zstd, xz or lz4; got "gzip"\n')
    p = run("ferry", "pack", "--help", check=0)
    assert p.stdout.startswith("usage: ferry pack DIR")


def test_missing_tree_and_manifest(tmp_path):
    p = pack(tmp_path / "nope", check=1)
    assert p.stderr == f"ferry: pack: {tmp_path}/nope: No such file or directory\n"
    (tmp_path / "empty").mkdir()
    p = pack(tmp_path / "empty", check=1)
    assert p.stderr == (f"ferry: pack: {tmp_path}/empty: no meta/ferry.yaml "
                        f"(ferry init {tmp_path}/empty writes a starting one)\n")


BROKEN = [
    # (manifest, message after "ferry: pack: DIR/meta/ferry.yaml:")
    ('name: hello\nversion: "1.0"\nsummary: s\napps:\n  hello:\n    command: bin/hello\n'
     '    daemon: sometimes\n',
     '7:13: apps.hello.daemon: expected one of simple, oneshot, notify, forking; got "sometimes"'),
    ('name: Hello\nversion: "1.0"\nsummary: s\n',
     '1:7: name: expected a package name: only lowercase letters, digits and hyphens; '
     'got "Hello"'),
    ('name: hello\nversion: "1.0"\nsumary: s\n',
     '3:1: sumary: unknown key; did you mean "summary"?'),
    ('name: hello\nversion: "1.0"\nsummary: s\napps:\n  hello:\n    command: /bin/sh\n',
     '6:14: apps.hello.command: expected a relative path inside the package, such as bin/server '
     '(no leading "/", no ".."), then its arguments; got "/bin/sh"'),
    ('name: hello\nversion: "1.0"\nsummary: s\nparts:\n  x:\n    stage-packages: ["-o foo"]\n',
     '6:22: parts.x.stage-packages[0]: expected a Debian package as NAME or NAME=VERSION (such as '
     'libssl3 or libssl3=3.0.11-1~deb12u2); got "-o foo"'),
    ('name: hello\nversion: "1.0"\nsummary: s\napps:\n  hello:\n    command: bin/hello\n'
     '    plugs: [network, netwrok-bind]\n',
     '7:22: apps.hello.plugs[1]: unknown interface "netwrok-bind"; did you mean "network-bind"?'),
    ('name: hello\nversion: "1.0"\nsummary: s\nplugs:\n  dev:\n    interface: serial\n',
     '6:16: plugs.dev.interface: unknown interface "serial"; expected one of network, '
     'network-bind, home, removable-media, serial-port, gpio, i2c, spi, camera, audio-playback, '
     'hardware-observe, system-observe, log-observe, mount-observe, network-observe, shutdown, '
     'time-control'),
]


@pytest.mark.parametrize("manifest,message", BROKEN)
def test_broken_manifest(tmp_path, manifest, message):
    tree = write_tree(tmp_path / "t", manifest=manifest)
    p = pack(tree, "-o", tmp_path / "x.ferry", check=1)
    assert p.stderr == f"ferry: pack: {tree}/meta/ferry.yaml:{message}\n"
    assert p.stdout == ""
    assert not (tmp_path / "x.ferry").exists()


def test_hooks_must_match_the_manifest(tmp_path):
    files = dict(FILES)
    del files["meta/hooks/check-health"]
    p = pack(write_tree(tmp_path / "a", files=files), "-o", tmp_path / "x", check=1)
    assert p.stderr == "ferry: pack: hooks.check-health: meta/hooks/check-health is missing\n"

    files = dict(FILES)
    files["meta/hooks/check-health"] = ("#!/bin/sh\n", 0o644)
    p = pack(write_tree(tmp_path / "b", files=files), "-o", tmp_path / "x", check=1)
    assert p.stderr == ("ferry: pack: hooks.check-health: meta/hooks/check-health is not "
                        "executable (chmod +x it)\n")

    files = dict(FILES)
    files["meta/hooks/install"] = ("#!/bin/sh\n", 0o755)
    p = pack(write_tree(tmp_path / "c", files=files), "-o", tmp_path / "x", check=1)
    assert p.stderr == ('ferry: pack: meta/hooks/install: not declared under hooks in '
                        'meta/ferry.yaml (add "hooks: {install: {}}")\n')

    files = dict(FILES)
    files["meta/hooks/check_health"] = ("#!/bin/sh\n", 0o755)
    p = pack(write_tree(tmp_path / "d", files=files), "-o", tmp_path / "x", check=1)
    assert p.stderr == ('ferry: pack: meta/hooks/check_health: not a hook; did you mean '
                        '"check-health"?\n')

    files = dict(FILES)
    files["meta/hooks/README"] = ("notes\n", 0o644)
    p = pack(write_tree(tmp_path / "e", files=files), "-o", tmp_path / "x", check=1)
    assert p.stderr == ("ferry: pack: meta/hooks/README: not a hook (hooks are install, configure, "
                        "pre-refresh, post-refresh, check-health and remove)\n")


def test_app_commands_must_be_executable_files_in_the_tree(tmp_path):
    files = dict(FILES)
    del files["bin/server"]
    p = pack(write_tree(tmp_path / "a", files=files), "-o", tmp_path / "x", check=1)
    assert p.stderr == "ferry: pack: apps.server.command: bin/server is not in the package\n"

    files = dict(FILES)
    files["bin/server"] = ("#!/bin/sh\n", 0o644)
    p = pack(write_tree(tmp_path / "b", files=files), "-o", tmp_path / "x", check=1)
    assert p.stderr == ("ferry: pack: apps.server.command: bin/server is not executable "
                        "(chmod +x it)\n")

    # a symlink to an executable inside the tree is fine, one that leaves it is not
    files = dict(FILES)
    del files["bin/server"]
    files["libexec/server"] = ("#!/bin/sh\n", 0o755)
    pack(write_tree(tmp_path / "c", files=files, links={"bin/server": "../libexec/server"}),
         "-o", tmp_path / "c.ferry", check=0)

    files = dict(FILES)
    del files["bin/server"]
    p = pack(write_tree(tmp_path / "d", files=files, links={"bin/server": "/bin/sh"}),
             "-o", tmp_path / "x", check=1)
    assert p.stderr == "ferry: pack: apps.server.command: bin/server is not in the package\n"


def test_sbom_in_the_tree_is_refused(tmp_path):
    files = dict(FILES)
    files["meta/sbom.cdx.json"] = ("{}", 0o644)
    p = pack(write_tree(tmp_path / "a", files=files), "-o", tmp_path / "x", check=1)
    assert p.stderr == (f"ferry: pack: meta/sbom.cdx.json: ferry pack writes this file; remove it "
                        f"from {tmp_path}/a\n")


# ---- unsafe trees -----------------------------------------------------------

def test_setuid_and_setgid_files_are_refused(tmp_path):
    files = dict(FILES)
    files["bin/su"] = ("#!/bin/sh\n", 0o4755)
    p = pack(write_tree(tmp_path / "a", files=files), "-o", tmp_path / "x", check=1)
    assert p.stderr == "ferry: pack: bin/su: setuid bit set\n"
    files = dict(FILES)
    files["bin/wall"] = ("#!/bin/sh\n", 0o2755)
    p = pack(write_tree(tmp_path / "b", files=files), "-o", tmp_path / "x", check=1)
    assert p.stderr == "ferry: pack: bin/wall: setgid bit set\n"
    assert not (tmp_path / "x").exists()


def test_fifo_is_refused(tmp_path):
    tree = write_tree(tmp_path / "a")
    os.mkfifo(tmp_path / "a" / "share" / "pipe")
    p = pack(tree, "-o", tmp_path / "x", check=1)
    assert p.stderr == ("ferry: pack: share/pipe: named pipe (FIFO): only regular files, "
                        "directories and symlinks can be packed\n")


@pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a device node needs root")
def test_device_nodes_are_refused(tmp_path):
    tree = write_tree(tmp_path / "a")
    os.mknod(tmp_path / "a" / "share" / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    p = pack(tree, "-o", tmp_path / "x", check=1)
    assert p.stderr == ("ferry: pack: share/null: character device: only regular files, "
                        "directories and symlinks can be packed\n")
    os.unlink(tmp_path / "a" / "share" / "null")
    os.mknod(tmp_path / "a" / "disk", stat.S_IFBLK | 0o600, os.makedev(7, 0))
    p = pack(tree, "-o", tmp_path / "x", check=1)
    assert p.stderr == ("ferry: pack: disk: block device: only regular files, "
                        "directories and symlinks can be packed\n")


@pytest.mark.parametrize("target,why", [
    ("/etc/passwd", "is absolute"),
    ("/", "is absolute"),
    ("../../etc/passwd", "points outside the tree"),
    ("../..", "points outside the tree"),
])
def test_symlinks_leaving_the_tree_are_refused(tmp_path, target, why):
    tree = write_tree(tmp_path / "a", links={"share/escape": target})
    p = pack(tree, "-o", tmp_path / "x", check=1)
    assert p.stderr == f'ferry: pack: share/escape: symlink target "{target}" {why}\n'
    assert not (tmp_path / "x").exists()


def test_symlink_chain_leaving_the_tree_is_refused(tmp_path):
    # read as text the second link stays inside; followed, it climbs out
    # through the first
    tree = write_tree(tmp_path / "a", links={"self": ".", "share/out": "../self/.."})
    p = pack(tree, "-o", tmp_path / "x", check=1)
    assert p.stderr == 'ferry: pack: share/out: symlink target "../self/.." points outside the tree\n'


def test_too_many_files(tmp_path):
    tree = write_tree(tmp_path / "a")
    many = tmp_path / "a" / "many"
    many.mkdir()
    for i in range(200_000):
        fd = os.open(many / f"{i:06}", os.O_CREAT | os.O_WRONLY, 0o644)
        os.close(fd)
    p = pack(tree, "-o", tmp_path / "x", check=1)
    assert p.stderr == "ferry: pack: too many files: more than 200000 entries\n"
    assert not (tmp_path / "x").exists()
