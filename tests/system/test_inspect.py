"""ferry inspect: what it shows of a real image (human and --json, with and
without --files), and how it fails on damaged and hostile files."""
import json
import os
import random
import subprocess

import pytest

from conftest import run
from packing import EPOCH, MANIFEST, sha256, sha512, unsquashfs_list, write_tree

MANIFEST_FULL = MANIFEST + """\
plugs:
  serial:
    interface: serial-port
    path: /dev/ttyUSB0
components:
  - name: left-pad
    version: 1.3.0
    purl: pkg:npm/left-pad@1.3.0
"""


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    d = tmp_path_factory.mktemp("inspect")
    manifest = MANIFEST_FULL.replace("    plugs: [network-bind]", "    plugs: [network-bind, serial]")
    tree = write_tree(d / "hello", manifest=manifest, links={"bin/hi": "hello"})
    out = d / "hello.ferry"
    run("ferry", "pack", tree, "-o", out, env={"SOURCE_DATE_EPOCH": EPOCH}, check=0)
    return out


def test_human(image):
    p = run("ferry", "inspect", image, check=0)
    lines = p.stdout.splitlines()
    assert lines[0] == "name:          hello"
    assert lines[1] == "version:       1.0"
    assert lines[2] == "summary:       Says hello"
    assert f"file:          {image}" in lines
    assert f"size:          {os.path.getsize(image)} bytes" in lines
    assert f"sha256:        {sha256(image)}" in lines
    assert f"sha512:        {sha512(image)}" in lines
    assert "compression:   zstd" in lines
    assert "type:          app" in lines
    assert "base:          none (the host's root)" in lines
    i = lines.index("apps:")
    assert lines[i + 1].split() == ["hello", "bin/hello"]
    assert lines[i + 2].split() == ["hello.server", "bin/server", "(daemon:", "simple)"]
    i = lines.index("hooks:")
    assert lines[i + 1] == "  check-health"
    i = lines.index("plugs:")
    assert lines[i + 1:i + 3] == ["  serial (interface serial-port)", "  network-bind"]
    i = lines.index("components:")
    assert lines[i + 1].split() == ["left-pad", "1.3.0", "pkg:npm/left-pad@1.3.0"]
    assert "files:" not in lines
    assert p.stderr == ""


def test_json(image):
    d = json.loads(run("ferry", "inspect", "--json", image, check=0).stdout)
    assert d["name"] == "hello" and d["version"] == "1.0"
    assert d["file"] == str(image)
    assert d["size"] == os.path.getsize(image)
    assert d["sha256"] == sha256(image) and d["sha512"] == sha512(image)
    assert d["compression"] == "zstd"
    assert d["license"] == "MIT"
    assert d["confinement"] == "strict"
    assert d["type"] == "app" and d["base"] is None
    assert len(d["architectures"]) == 1
    assert d["apps"] == [
        {"name": "hello", "id": "hello", "command": "bin/hello", "daemon": None, "plugs": []},
        {"name": "server", "id": "hello.server", "command": "bin/server", "daemon": "simple",
         "plugs": ["network-bind", "serial"]},
    ]
    assert d["hooks"] == [{"name": "check-health", "plugs": []}]
    assert d["plugs"] == [{"name": "serial", "interface": "serial-port"},
                          {"name": "network-bind", "interface": "network-bind"}]
    assert d["sbom"] == "meta/sbom.cdx.json"
    assert d["components"] == [{"type": "library", "name": "left-pad", "version": "1.3.0",
                                "purl": "pkg:npm/left-pad@1.3.0"}]
    assert "files" not in d
    assert d["entries"] == len(unsquashfs_list(image))


def test_files_match_unsquashfs(image):
    listed = {r[3]: r for r in unsquashfs_list(image)}
    d = json.loads(run("ferry", "inspect", "--json", "--files", image, check=0).stdout)
    files = {f["path"]: f for f in d["files"]}
    assert set(files) == set(listed)
    for path, f in files.items():
        mode, _owner, size, _path, target = listed[path]
        assert f["type"] == {"d": "directory", "l": "symlink", "-": "file"}[mode[0]], path
        if f["type"] == "file":
            assert f["size"] == size, path
        assert f.get("target") == target, path
    assert files["bin/hello"]["mode"] == "0755"
    assert files["bin/hi"]["target"] == "hello"

    p = run("ferry", "inspect", "--files", image, check=0)
    lines = p.stdout.splitlines()
    i = lines.index("files:")
    rows = [ln.split() for ln in lines[i + 1:]]
    assert ["-rwxr-xr-x", str(len("#!/bin/sh\necho hello\n")), "bin/hello"] in rows
    assert any(r[0].startswith("l") and r[2:] == ["bin/hi", "->", "hello"] for r in rows)


def test_usage_and_missing_file(tmp_path):
    p = run("ferry", "inspect", check=2)
    assert p.stderr.startswith("ferry: inspect: which file? (ferry inspect FILE)\n")
    p = run("ferry", "inspect", "--frobnicate", "x", check=2)
    assert p.stderr.startswith("ferry: inspect: unknown option --frobnicate\n")
    p = run("ferry", "inspect", tmp_path / "nope.ferry", check=1)
    assert p.stderr == f"ferry: inspect: {tmp_path}/nope.ferry: No such file or directory\n"
    p = run("ferry", "inspect", tmp_path, check=1)
    assert p.stderr == f"ferry: inspect: {tmp_path}: not a regular file\n"


# ---- damaged and hostile images -------------------------------------------------

def damaged(tmp_path, image, name, data):
    path = tmp_path / name
    path.write_bytes(data)
    p = run("ferry", "inspect", path)
    assert p.returncode == 1, (name, p.stdout, p.stderr)
    assert p.stdout == ""
    assert p.stderr.startswith(f"ferry: inspect: {path}: "), p.stderr
    assert p.stderr.count("\n") == 1, p.stderr
    assert "AddressSanitizer" not in p.stderr and "runtime error" not in p.stderr
    return p.stderr


def test_empty_file(tmp_path, image):
    msg = damaged(tmp_path, image, "empty.ferry", b"")
    assert "truncated" in msg or "too small" in msg or "superblock" in msg, msg


def test_random_bytes(tmp_path, image):
    rnd = random.Random(7)
    msg = damaged(tmp_path, image, "random.ferry", bytes(rnd.getrandbits(8) for _ in range(8192)))
    assert "squashfs" in msg or "superblock" in msg or "magic" in msg, msg


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_truncated(tmp_path, image, keep):
    data = image.read_bytes()
    used = int.from_bytes(data[40:48], "little")  # superblock: bytes used
    damaged(tmp_path, image, f"cut-{keep}.ferry", data[:int(used * keep)])


def _superblock_fields(data):
    """Offsets of the superblock's table pointers (squashfs 4.0 layout)."""
    return {"inode_table": 64, "directory_table": 72, "id_table": 48, "bytes_used": 40}


@pytest.mark.parametrize("field", ["inode_table", "directory_table", "id_table", "bytes_used"])
def test_superblock_pointer_flipped(tmp_path, image, field):
    data = bytearray(image.read_bytes())
    off = _superblock_fields(data)[field]
    data[off + 5] ^= 0x40  # far beyond the end of the file
    damaged(tmp_path, image, f"flip-{field}.ferry", bytes(data))


def test_magic_flipped(tmp_path, image):
    data = bytearray(image.read_bytes())
    data[0] ^= 0x01
    damaged(tmp_path, image, "magic.ferry", bytes(data))


def test_metadata_bit_flips(tmp_path, image):
    """Flip each bit of one byte in the middle of the inode and directory
    tables: every result is either read as a valid image or refused with a
    message, never a crash (the sanitizers would abort)."""
    data = image.read_bytes()
    start = int.from_bytes(data[64:72], "little")  # inode table
    end = int.from_bytes(data[40:48], "little")    # bytes used
    rnd = random.Random(11)
    refused = 0
    for n in range(24):
        pos = rnd.randrange(start, end)
        bad = bytearray(data)
        bad[pos] ^= 1 << rnd.randrange(8)
        path = tmp_path / f"bits-{n}.ferry"
        path.write_bytes(bytes(bad))
        p = run("ferry", "inspect", "--files", path)
        assert p.returncode in (0, 1), p.stderr
        assert "AddressSanitizer" not in p.stderr and "runtime error" not in p.stderr
        if p.returncode == 1:
            refused += 1
            assert p.stderr.startswith(f"ferry: inspect: {path}: "), p.stderr
    assert refused > 0


def _mksquashfs(tmp_path, name, files):
    root = tmp_path / (name + ".d")
    for path, content in files.items():
        full = root / path
        full.parent.mkdir(parents=True, exist_ok=True)
        full.write_text(content)
    out = tmp_path / (name + ".ferry")
    subprocess.run(["mksquashfs", root, out, "-noappend", "-quiet", "-all-root"], check=True,
                   capture_output=True)
    return out


def test_image_without_manifest(tmp_path):
    img = _mksquashfs(tmp_path, "nomanifest", {"bin/x": "x"})
    p = run("ferry", "inspect", img, check=1)
    assert p.stderr.startswith(f"ferry: inspect: {img}: "), p.stderr
    assert "meta/ferry.yaml" in p.stderr


def test_image_with_a_broken_manifest(tmp_path):
    img = _mksquashfs(tmp_path, "badmanifest",
                      {"meta/ferry.yaml": "name: x\nversion: 1\nsummary: s\n"})
    p = run("ferry", "inspect", img, check=1)
    assert p.stderr == (f"ferry: inspect: {img}: meta/ferry.yaml:1:7: name: expected a package "
                        f"name: 2 to 40 characters; got \"x\"\n")


def test_image_with_a_broken_sbom(tmp_path):
    img = _mksquashfs(tmp_path, "badsbom",
                      {"meta/ferry.yaml": "name: ab\nversion: \"1\"\nsummary: s\n",
                       "meta/sbom.cdx.json": '{"bomFormat": "CycloneDX", "components": [{}]}'})
    p = run("ferry", "inspect", img, check=1)
    assert p.stderr == (f"ferry: inspect: {img}: sbom: components[0]: expected an object with a "
                        f"type and a name\n")


def test_image_made_by_another_tool_without_sbom(tmp_path):
    img = _mksquashfs(tmp_path, "nosbom", {"meta/ferry.yaml": "name: ab\nversion: \"1\"\nsummary: s\n"})
    p = run("ferry", "inspect", img, check=0)
    assert "components:    (no meta/sbom.cdx.json in this image)" in p.stdout
    d = json.loads(run("ferry", "inspect", "--json", img, check=0).stdout)
    assert d["sbom"] is None and d["components"] == []


def test_base_type(tmp_path):
    """A package of type base shows as one, with no base line of its own."""
    manifest = "name: tiny-base\nversion: \"1\"\nsummary: A root file system\ntype: base\n"
    tree = write_tree(tmp_path / "b", manifest=manifest, files={"etc/os-release": ("ID=x\n", 0o644)})
    out = tmp_path / "b.ferry"
    run("ferry", "pack", tree, "-o", out, env={"SOURCE_DATE_EPOCH": EPOCH}, check=0)
    lines = run("ferry", "inspect", out, check=0).stdout.splitlines()
    assert "type:          base" in lines
    assert not any(line.startswith("base:") for line in lines)
    d = json.loads(run("ferry", "inspect", "--json", out, check=0).stdout)
    assert d["type"] == "base" and d["base"] is None and d["apps"] == []
