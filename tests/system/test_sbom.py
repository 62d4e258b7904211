"""The SBOM in every package, checked by the CycloneDX project's own JSON
validator for spec 1.5 and by packageurl-js (tests/interop, installed from
the npm registry with `npm ci` when missing). Nothing here is skipped: when
the validator cannot be installed, the tests fail."""
import json
import os
import subprocess

import pytest

from conftest import TOP, run
from packing import EPOCH, MANIFEST, deb_cache, interop_dir, unsquashfs_cat, write_tree

VALIDATOR = os.path.join(interop_dir(), "validate-cyclonedx.js")


@pytest.fixture(scope="module")
def validator():
    modules = os.path.join(interop_dir(), "node_modules", "@cyclonedx", "cyclonedx-library")
    if not os.path.isdir(modules):
        p = subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"],
                           cwd=interop_dir(), capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, f"npm ci in tests/interop failed:\n{p.stdout}\n{p.stderr}"

    def validate(*paths):
        return subprocess.run(["node", VALIDATOR, *map(str, paths)], capture_output=True, text=True,
                              timeout=120)
    return validate


def sbom_of(image, dest):
    dest.write_bytes(unsquashfs_cat(image, "meta/sbom.cdx.json"))
    return dest


def test_sbom_of_a_package_without_debs(tmp_path, validator):
    manifest = MANIFEST + ("components:\n  - name: left-pad\n    version: 1.3.0\n"
                           "    purl: pkg:npm/left-pad@1.3.0\n"
                           "  - {name: vendored-lib, version: \"2.0+git1\"}\n")
    tree = write_tree(tmp_path / "t", manifest=manifest)
    run("ferry", "pack", tree, "-o", tmp_path / "a.ferry", env={"SOURCE_DATE_EPOCH": EPOCH}, check=0)
    path = sbom_of(tmp_path / "a.ferry", tmp_path / "a.json")
    p = validator(path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert p.stdout == f"{path}: valid\n"
    doc = json.loads(path.read_text())
    assert doc["metadata"]["timestamp"] == "2023-11-14T22:13:20Z"
    assert doc["metadata"]["component"]["name"] == "hello"
    assert [c["name"] for c in doc["components"]] == ["left-pad", "vendored-lib"]


def test_sbom_of_the_example_with_debs(tmp_path, validator):
    run("ferry", "pack", os.path.join(TOP, "examples", "hello"), "-o", tmp_path / "h.ferry",
        "--deb-cache", deb_cache(), env={"SOURCE_DATE_EPOCH": EPOCH}, check=0)
    path = sbom_of(tmp_path / "h.ferry", tmp_path / "h.json")
    p = validator(path)
    assert p.returncode == 0, p.stdout + p.stderr
    doc = json.loads(path.read_text())
    assert {c["name"] for c in doc["components"]} == {"jq", "libjq1", "libonig5"}
    assert all(c["purl"].startswith("pkg:deb/debian/") for c in doc["components"])


def test_the_validator_can_fail(tmp_path, validator):
    """The check above means something: a broken document is refused."""
    tree = write_tree(tmp_path / "t")
    run("ferry", "pack", tree, "-o", tmp_path / "a.ferry", check=0)
    doc = json.loads(unsquashfs_cat(tmp_path / "a.ferry", "meta/sbom.cdx.json"))
    no_name = dict(doc, components=[{"type": "library"}])
    bad_serial = dict(doc, serialNumber="not-a-urn")
    bad_purl = dict(doc, components=[{"type": "library", "name": "x", "purl": "deb/x@1"}])
    for n, d in enumerate((no_name, bad_serial, bad_purl)):
        (tmp_path / f"bad{n}.json").write_text(json.dumps(d))
    p = validator(tmp_path / "bad0.json")
    assert p.returncode == 1
    assert "must have required property 'name'" in p.stdout
    p = validator(tmp_path / "bad1.json")
    assert p.returncode == 1
    assert '"instancePath":"/serialNumber"' in p.stdout
    p = validator(tmp_path / "bad2.json")
    assert p.returncode == 1
    assert "purl deb/x@1: " in p.stdout


def test_same_content_same_serial_number(tmp_path):
    tree = write_tree(tmp_path / "t")
    for n in ("a", "b"):
        run("ferry", "pack", tree, "-o", tmp_path / f"{n}.ferry", env={"SOURCE_DATE_EPOCH": EPOCH},
            check=0)
    a = json.loads(unsquashfs_cat(tmp_path / "a.ferry", "meta/sbom.cdx.json"))
    b = json.loads(unsquashfs_cat(tmp_path / "b.ferry", "meta/sbom.cdx.json"))
    assert a["serialNumber"] == b["serialNumber"]
    manifest = MANIFEST.replace('version: "1.0"', 'version: "1.1"')
    tree2 = write_tree(tmp_path / "t2", manifest=manifest)
    run("ferry", "pack", tree2, "-o", tmp_path / "c.ferry", env={"SOURCE_DATE_EPOCH": EPOCH}, check=0)
    c = json.loads(unsquashfs_cat(tmp_path / "c.ferry", "meta/sbom.cdx.json"))
    assert c["serialNumber"] != a["serialNumber"]
