"""stage-packages with real Debian packages from the archive the build
machine's apt is configured for: what gets staged, what the SBOM says about
it, that the staged program runs, and apt's refusals as the publisher sees
them. The .debs are fetched once per test run (packing.deb_cache)."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import TOP, run
from packing import (EPOCH, deb_cache, sha256, tree_contents, unsquashfs_extract, write_tree)

EXAMPLE = os.path.join(TOP, "examples", "hello")
ARCH = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                      check=True).stdout.strip()


def candidate(name):
    """The version apt offers for name: what staging must take."""
    p = subprocess.run(["apt-cache", "policy", name], capture_output=True, text=True, check=True,
                       env=dict(os.environ, LC_ALL="C"))
    for line in p.stdout.splitlines():
        if line.strip().startswith("Candidate:"):
            return line.split()[1]
    pytest.fail(f"apt has no candidate for {name}: {p.stdout}")


def purl_encode(s):
    keep = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_~:")
    return "".join(c if c in keep else "%%%02X" % ord(c) for c in s)


def pack(*args, check=None, cwd=None):
    return run("ferry", "pack", *args, "--deb-cache", deb_cache(), check=check, cwd=cwd,
               env={"SOURCE_DATE_EPOCH": EPOCH})


@pytest.fixture(scope="module")
def example(tmp_path_factory):
    d = tmp_path_factory.mktemp("stage")
    p = pack(EXAMPLE, check=0, cwd=d)
    return d / p.stdout.splitlines()[0]


def test_example_is_named_for_this_machine(example):
    assert example.name == f"hello_1.0_{ARCH}.ferry"


def test_staged_components_are_the_archive_candidates(example):
    d = json.loads(run("ferry", "inspect", "--json", example, check=0).stdout)
    comps = {c["name"]: c for c in d["components"]}
    assert set(comps) == {"jq", "libjq1", "libonig5"}
    for name in comps:
        assert comps[name]["version"] == candidate(name), name
        assert comps[name]["type"] == "library"
    jq_ver = candidate("jq")
    assert comps["jq"]["purl"] == f"pkg:deb/debian/jq@{purl_encode(jq_ver)}?arch={ARCH}&distro=debian-12"
    assert comps["libjq1"]["purl"] == (f"pkg:deb/debian/libjq1@{purl_encode(jq_ver)}?arch={ARCH}"
                                       f"&distro=debian-12&upstream=jq")
    onig = candidate("libonig5")
    assert comps["libonig5"]["purl"] == (f"pkg:deb/debian/libonig5@{purl_encode(onig)}?arch={ARCH}"
                                         f"&distro=debian-12&upstream=libonig")


def test_sbom_records_the_deb_hashes_and_control_fields(example, tmp_path):
    root = unsquashfs_extract(example, tmp_path / "x")
    sbom = json.loads((root / "meta" / "sbom.cdx.json").read_text())
    cached = {f: sha256(os.path.join(deb_cache(), f)) for f in os.listdir(deb_cache())
              if f.endswith(".deb")}
    for c in sbom["components"]:
        h = c["hashes"][0]
        assert h["alg"] == "SHA-256"
        assert h["content"] in cached.values(), c["name"]
        deb = [f for f, v in cached.items() if v == h["content"]][0]
        fields = subprocess.run(["dpkg-deb", "-f", os.path.join(deb_cache(), deb), "Package",
                                 "Version", "Architecture"], capture_output=True, text=True,
                                check=True).stdout
        assert f"Package: {c['name']}\n" in fields
        assert f"Version: {c['version']}\n" in fields
        props = {p["name"]: p["value"] for p in c["properties"]}
        assert props["ferry:part"] == "jq"


def test_prime_drops_docs_and_the_staged_jq_runs(example, tmp_path):
    root = unsquashfs_extract(example, tmp_path / "x")
    got = tree_contents(root)
    assert "usr/bin/jq" in got
    assert not any(p.startswith(("usr/share/doc", "usr/share/man", "usr/share/lintian"))
                   for p in got), sorted(got)
    libs = [p for p in got if "/libjq.so." in p or "/libonig.so." in p]
    assert libs, sorted(got)
    for p in libs:
        kind, _, target = got[p]
        if kind == "link":
            assert not target.startswith("/"), (p, target)
    # the bundled jq runs with the bundled libraries
    p = subprocess.run([root / "bin" / "jq", "-c", ".a + 1"], input='{"a": 41}', text=True,
                       capture_output=True)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "42\n"
    p = subprocess.run([root / "meta" / "hooks" / "check-health"], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_repack_gives_the_same_bytes_even_after_the_cache_is_damaged(example, tmp_path):
    first = pack(EXAMPLE, "-o", tmp_path / "again.ferry", check=0)
    assert (tmp_path / "again.ferry").read_bytes() == example.read_bytes()
    assert first.stdout.splitlines()[2] == f"  sha256: {sha256(example)}"
    # a cached .deb that no longer has apt's hash is fetched again, not used
    debs = sorted(f for f in os.listdir(deb_cache()) if f.startswith("libonig5_"))
    with open(os.path.join(deb_cache(), debs[0]), "r+b") as f:
        f.seek(100)
        f.write(b"\0damaged\0")
    pack(EXAMPLE, "-o", tmp_path / "third.ferry", check=0)
    assert (tmp_path / "third.ferry").read_bytes() == example.read_bytes()


def tree_with(tmp_path, parts, arch_line=""):
    manifest = (f'name: tools\nversion: "1"\nsummary: s\n{arch_line}'
                f'apps:\n  jq:\n    command: usr/bin/jq\nparts:\n{parts}')
    return write_tree(tmp_path / "t", manifest=manifest, files={})


def test_pinned_version(tmp_path):
    v = candidate("jq")
    tree = tree_with(tmp_path, f"  tools:\n    stage-packages: [jq={v}]\n"
                               f"    prime: [usr/bin/jq]\n")
    pack(tree, "-o", tmp_path / "x.ferry", check=0)
    d = json.loads(run("ferry", "inspect", "--json", "--files", tmp_path / "x.ferry", check=0).stdout)
    assert [(c["name"], c["version"]) for c in d["components"]] == [("jq", v)]
    # prime with only an include keeps only that (and the folders above it)
    paths = {f["path"] for f in d["files"]}
    assert paths == {"", "meta", "meta/ferry.yaml", "meta/sbom.cdx.json", "usr", "usr/bin",
                     "usr/bin/jq"}


def test_unknown_package(tmp_path):
    tree = tree_with(tmp_path, "  tools:\n    stage-packages: [jq, no-such-package-ferry]\n")
    p = pack(tree, "-o", tmp_path / "x.ferry", check=1)
    assert p.stderr == ("ferry: pack: parts.tools.stage-packages: no-such-package-ferry: apt-get: "
                        "Unable to locate package no-such-package-ferry\n")
    assert not (tmp_path / "x.ferry").exists()


def test_unknown_version(tmp_path):
    tree = tree_with(tmp_path, "  tools:\n    stage-packages: [jq=0.0-0]\n")
    p = pack(tree, "-o", tmp_path / "x.ferry", check=1)
    assert p.stderr == ("ferry: pack: parts.tools.stage-packages: jq=0.0-0: apt-get: "
                        "Version '0.0-0' for 'jq' was not found\n")


def test_architecture_all_cannot_bundle_binaries(tmp_path):
    tree = tree_with(tmp_path, "  tools:\n    stage-packages: [jq]\n", "architectures: [all]\n")
    p = pack(tree, "-o", tmp_path / "x.ferry", check=1)
    assert p.stderr == (f"ferry: pack: parts.tools.stage-packages: jq {candidate('jq')} is built "
                        f"for {ARCH}, which architectures does not list\n")


def test_two_parts_pinning_different_versions(tmp_path):
    tree = tree_with(tmp_path, "  a:\n    stage-packages: [jq]\n"
                               "  b:\n    stage-packages: [jq=0.0-0]\n")
    p = pack(tree, "-o", tmp_path / "x.ferry", check=1)
    assert p.stderr == ("ferry: pack: parts.b.stage-packages: jq=0.0-0: part a already stages "
                        "jq\n")


def test_a_tree_file_in_the_way(tmp_path):
    tree = tree_with(tmp_path, "  tools:\n    stage-packages: [jq]\n")
    os.makedirs(tree / "usr" / "bin")
    (tree / "usr" / "bin" / "jq").write_text("#!/bin/sh\n")
    os.chmod(tree / "usr" / "bin" / "jq", 0o755)
    p = pack(tree, "-o", tmp_path / "x.ferry", check=1)
    assert p.stderr == ("ferry: pack: parts.tools.stage-packages: jq: usr/bin/jq is already in "
                        "the tree with other content\n")


def test_a_tree_symlink_is_never_followed_while_staging(tmp_path):
    """A link in the tree where a package has a folder must not let staging
    write outside the tree."""
    outside = tmp_path / "outside"
    outside.mkdir()
    tree = tree_with(tmp_path, "  tools:\n    stage-packages: [jq]\n")
    os.makedirs(tree / "usr")
    os.symlink(outside, tree / "usr" / "bin")
    p = pack(tree, "-o", tmp_path / "x.ferry", check=1)
    assert p.stderr == ("ferry: pack: parts.tools.stage-packages: jq: usr/bin: the tree has a "
                        "symlink or file where the package has a directory\n")
    assert os.listdir(outside) == []


def test_nothing_is_installed_on_the_build_machine(tmp_path):
    before = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version} ${Status}\n"],
                            capture_output=True, text=True, check=True).stdout
    tree = tree_with(tmp_path, "  tools:\n    stage-packages: [libonig5]\n")
    (tree / "usr" / "bin").mkdir(parents=True)
    shutil.copy("/bin/true", tree / "usr" / "bin" / "jq")
    pack(tree, "-o", tmp_path / "x.ferry", check=0)
    after = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version} ${Status}\n"],
                           capture_output=True, text=True, check=True).stdout
    assert before == after
