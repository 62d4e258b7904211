"""Bases: `ferry base build` from the Debian archive (bookworm and trixie),
reproducible to the byte, normalised, with an SBOM of every dpkg package;
and `ferry pack --base` staging an app from the base's suite, leaving out
what the base holds.

Building a base takes minutes, so each is built once per test session (the
`bases` fixture). FERRY_TEST_BASES=DIR keeps them in DIR between sessions:
an image already there is reused, except for the reproducibility test's
second build, which is always fresh. The builds run at the same time."""
import hashlib
import json
import os
import subprocess
from concurrent.futures import ThreadPoolExecutor

import pytest

from baselib import build, cache_dir, mounted
from conftest import binary, run
from packing import EPOCH, deb_cache, sha256, unsquashfs_list, write_tree

ARCH = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                      check=True).stdout.strip()


@pytest.fixture(scope="session")
def bases(tmp_path_factory):
    d = cache_dir(tmp_path_factory)
    out, todo = {}, []
    for name, suite in (("debian-12", "bookworm"), ("debian-13", "trixie")):
        path = os.path.join(d, f"{name}.ferry")
        if not os.path.exists(path):
            todo.append((name, suite, path))
        out[name] = path
    # the reproducibility test's second build, always fresh
    again = str(tmp_path_factory.mktemp("again") / "debian-12.ferry")
    todo.append(("debian-12", "bookworm", again))
    out["debian-12-again"] = again
    # the builds wait on the archive and on dpkg more than on the CPU: at once
    with ThreadPoolExecutor(len(todo)) as pool:
        procs = list(pool.map(lambda t: build(*t), todo))
    out["again-stdout"] = procs[-1].stdout
    return out


def inspect(path):
    return json.loads(run("ferry", "inspect", "--json", path, check=0).stdout)


def test_same_archive_state_gives_the_same_bytes(bases, tmp_path):
    again = bases["debian-12-again"]
    if inspect(again)["version"] != inspect(bases["debian-12"])["version"]:
        pytest.skip("the archive changed between the two builds")
    assert sha256(again) == sha256(bases["debian-12"])
    assert "SOURCE_DATE_EPOCH=" in bases["again-stdout"]


@pytest.mark.parametrize("name,release", [("debian-12", "12"), ("debian-13", "13")])
def test_base_manifest_and_sbom(bases, name, release):
    d = inspect(bases[name])
    assert d["name"] == name and d["type"] == "base" and d["apps"] == []
    assert d["version"].startswith(release + ".") and "+" in d["version"]
    assert d["architectures"] == [ARCH]
    comps = {c["name"]: c for c in d["components"]}
    # every dpkg package of a minbase, each with its distro and upstream source
    for pkg in ("libc6", "dpkg", "apt", "base-files", "coreutils", "bash", "libgcc-s1"):
        assert pkg in comps, pkg
    assert len(comps) > 60
    libc = comps["libc6"]["purl"]
    assert libc.startswith("pkg:deb/debian/libc6@")
    assert f"?arch={ARCH}&distro=debian-{release}&upstream=glibc" in libc
    assert "upstream=" not in comps["dpkg"]["purl"]


@pytest.mark.parametrize("name", ["debian-12", "debian-13"])
def test_base_tree_is_normalised(bases, name):
    entries = {e[3]: e for e in unsquashfs_list(bases[name])}
    paths = set(entries)
    # the sandbox brings /dev, /proc, /tmp; the base has the mount points
    for d in ("dev", "proc", "tmp", "ferry", "etc", "usr/bin"):
        assert d in paths, d
    assert not any(p.startswith("dev/") for p in paths)
    assert "etc/apt/sources.list" not in paths
    assert "etc/machine-id" not in paths
    assert not any(p.startswith("var/lib/apt/lists/") and not p.endswith("/lists")
                   for p in paths)
    assert not any(p.startswith("var/log/") for p in paths)
    assert not any(p.endswith("-old") for p in paths)
    assert entries["usr/bin/su"][0] == "-rwxr-xr-x"  # kept, without its setuid bit
    # absolute links were made relative: the same file once the tree is /
    assert not any(e[4] and e[4].startswith("/") for e in entries.values())
    assert entries["etc/localtime"][0].startswith("-")  # a mount point for the device's
    assert entries["etc/hostname"][2] == 0 and entries["etc/resolv.conf"][2] == 0


def test_base_refuses_apps(tmp_path):
    manifest = ("name: bb\nversion: \"1\"\nsummary: s\ntype: base\n"
                "apps:\n  x:\n    command: bin/x\n")
    tree = write_tree(tmp_path / "b", manifest=manifest)
    p = run("ferry", "pack", tree, "-o", tmp_path / "b.ferry", check=1)
    assert "apps: a base has no apps" in p.stderr


def test_base_build_refuses_bad_input(tmp_path):
    p = run("ferry", "base", "build", "debian-12", "--suite", "Book;worm", "-o",
            tmp_path / "x.ferry", check=1)
    assert "suite \"Book;worm\": expected a Debian suite name" in p.stderr
    p = run("ferry", "base", "build", "debian-12", check=2)
    assert "which Debian suite?" in p.stderr
    p = run("ferry", "base", "build", "debian-12", "--suite", "bookworm", "--include", "-x",
            "-o", tmp_path / "x.ferry", check=1)
    assert "--include: \"-x\" is not a Debian package name" in p.stderr


APP = """\
name: tools
version: "1.0"
summary: jq and python3 on a base
base: {base}
apps:
  jq:
    command: usr/bin/jq
parts:
  tools:
    stage-packages: [jq, python3]
    prime: ["-usr/share/doc", "-usr/share/man"]
"""


def pack_app(tmp_path, base, base_file, manifest=APP, check=0):
    tree = write_tree(tmp_path / "app", manifest=manifest.format(base=base), files={})
    out = tmp_path / "app.ferry"
    args = ["pack", tree, "-o", out, "--deb-cache", deb_cache()]
    if base_file:
        args += ["--base", base_file]
    p = run("ferry", *args, check=check, env={"SOURCE_DATE_EPOCH": EPOCH}, timeout=900)
    return out, p


def test_pack_on_debian_13(bases, tmp_path):
    out, _ = pack_app(tmp_path, "debian-13", bases["debian-13"])
    d = inspect(out)
    assert d["base"] == "debian-13"
    comps = {c["name"]: c for c in d["components"]}
    base = {c["name"]: c for c in inspect(bases["debian-13"])["components"]}
    # jq and python3 with what they depend on...
    for pkg in ("jq", "libjq1", "libonig5", "python3", "python3-minimal", "libpython3.13-stdlib"):
        assert pkg in comps, pkg
    # ... from trixie, less what the base holds at the same version
    assert "libc6" not in comps and "libgcc-s1" not in comps
    for name, c in comps.items():
        assert "distro=debian-13" in c["purl"], c["purl"]
        if name in base:
            assert base[name]["version"] != c["version"], name
    files = {e[3] for e in unsquashfs_list(out)}
    assert "usr/bin/jq" in files and "usr/bin/python3" in files
    assert not any(f.startswith("usr/share/doc/") for f in files)
    assert not any("libc.so.6" in f for f in files)


def test_pack_on_a_base_without_deps(bases, tmp_path):
    manifest = APP.replace("    prime:", "    stage-packages-deps: false\n    prime:")
    manifest = manifest.replace("[jq, python3]", "[jq, libc6, libjq1, libonig5]")
    out, p = pack_app(tmp_path, "debian-13", bases["debian-13"], manifest=manifest)
    comps = {c["name"] for c in inspect(out)["components"]}
    assert comps == {"jq", "libjq1", "libonig5"}  # libc6 is the base's


def test_pack_base_errors(bases, tmp_path):
    _, p = pack_app(tmp_path, "debian-13", None, check=1)
    assert "base: debian-13: give its image with --base FILE" in p.stderr
    _, p = pack_app(tmp_path, "debian-13", bases["debian-12"], check=1)
    assert "the manifest names base debian-13, the image is debian-12" in p.stderr
    _, p = pack_app(tmp_path, "none", bases["debian-12"], check=1)
    assert "the manifest names no base" in p.stderr


def test_elf_check_names_missing_glibc_version_without_base(bases, tmp_path):
    """jq and python3 from Debian 13 pack on debian-13; the very same files
    with no base are refused at pack, naming the glibc version they need."""
    out, _ = pack_app(tmp_path, "debian-13", bases["debian-13"])
    tree = tmp_path / "nobase"
    subprocess.run(["unsquashfs", "-q", "-n", "-d", str(tree), str(out)], check=True,
                   capture_output=True)
    os.unlink(tree / "meta" / "sbom.cdx.json")
    (tree / "meta" / "ferry.yaml").write_text(
        "name: tools\nversion: \"1.0\"\nsummary: s\nbase: none\n"
        "apps:\n  jq:\n    command: usr/bin/jq\n")
    p = run("ferry", "pack", tree, "-o", tmp_path / "nobase.ferry", check=1,
            env={"SOURCE_DATE_EPOCH": EPOCH})
    assert "would not load on the build machine's root" in p.stderr
    line = next(l for l in p.stderr.splitlines() if l.strip().startswith("usr/bin/jq"))
    assert "needs version GLIBC_2.3" in line and "of libc.so.6" in line, p.stderr
    assert "(Debian package libc6)" in line
    assert not os.path.exists(tmp_path / "nobase.ferry")


def test_elf_check_names_missing_library_on_base(bases, tmp_path):
    manifest = APP.replace("    prime:", "    stage-packages-deps: false\n    prime:")
    manifest = manifest.replace("[jq, python3]", "[jq]")
    _, p = pack_app(tmp_path, "debian-12", bases["debian-12"], manifest=manifest, check=1)
    assert "usr/bin/jq: needs libjq.so.1, which is neither in the package nor in the base " \
           "debian-12" in p.stderr


@pytest.fixture
def mounted_base(bases, tmp_path):
    """The debian-12 image loop-mounted read-only, as ferryd mounts images."""
    with mounted(bases["debian-12"], tmp_path / "base") as mnt:
        yield mnt


def test_confine_on_a_base_sees_the_base_not_the_host(mounted_base, tmp_path):
    state = tmp_path / "state"
    data, common = state / "data/demo/1", state / "data/demo/common"
    for d in (data, common):
        d.mkdir(parents=True)
        os.chown(d, 65534, 65534)
    pkg = tmp_path / "pkg"
    (pkg / "usr/lib/x86_64-linux-gnu").mkdir(parents=True)
    marker = f"/opt/ferry-test-base-{os.getpid()}"
    with open(marker, "w") as f:
        f.write("host\n")
    try:
        script = ("cat /etc/debian_version; echo passwd=$(md5sum < /etc/passwd | cut -c1-32); "
                  "echo status=$(grep -c '^Package:' /var/lib/dpkg/status); "
                  f"test -e {marker} && echo opt-visible; test -e /usr/bin/gcc && echo gcc-visible; "
                  "test -s /etc/resolv.conf && echo resolv; echo LD=$LD_LIBRARY_PATH; "
                  "ls -d /ferry/demo/current")
        p = subprocess.run(
            [binary("ferry-confine"), "--name", "demo", "--app", "app", "--revision", "1",
             "--pkg-dir", str(pkg), "--data", str(data), "--common", str(common),
             "--uid", "65534", "--gid", "65534", "--state-dir", str(state),
             "--base", str(mounted_base), "--", "/bin/sh", "-c", script],
            capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(marker)
    assert p.returncode == 0, p.stderr
    out = p.stdout.splitlines()
    with open(mounted_base / "etc/debian_version") as f:
        assert out[0] == f.read().strip()
    with open(mounted_base / "etc/passwd", "rb") as f:
        base_passwd = hashlib.md5(f.read()).hexdigest()
    assert f"passwd={base_passwd}" in out  # the base's /etc/passwd, not the host's
    with open(mounted_base / "var/lib/dpkg/status") as f:
        n = sum(1 for line in f if line.startswith("Package:"))
    assert f"status={n}" in out  # the base's /var
    assert "opt-visible" not in out and "gcc-visible" not in out  # nor /opt, /usr
    if os.path.getsize("/etc/resolv.conf"):
        assert "resolv" in out  # the host's resolver configuration
    assert ("LD=/ferry/demo/current/usr/lib/x86_64-linux-gnu:/ferry/demo/current/lib/"
            "x86_64-linux-gnu:/ferry/demo/current/usr/lib:/ferry/demo/current/lib") in out
    assert "/ferry/demo/current" in out
