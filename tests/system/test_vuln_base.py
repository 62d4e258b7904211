"""Vulnerability notices of bases in a real ferry-store, on SQLite and on
PostgreSQL: a base's own publisher sees the findings for the components of
its released revisions, and `ferry vulns APP` (text and --json) adds, marked
as coming from the base, the open findings of the base revision released in
the same channel as each released revision of an app whose manifest names
that base; a refresh of the base, not a rebuild of the app, clears them."""
import json

from storelib import backend, make_image, postgres, store  # noqa: F401 (fixtures)
from test_vuln_debian import osv_record
from test_vuln_store import write_feed
from vulnlib import libssl3, sbom, wait_for

OLD, MID = "3.0.17-1~deb12u2", "3.0.20-1~deb12u2"
ZLIB = "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&distro=debian-12&upstream=zlib"

BASE_MANIFEST = """name: debian-12
version: "{version}"
summary: "Debian GNU/Linux 12 (bookworm) minbase root file system"
type: base
architectures: [amd64]
"""

APP_MANIFEST = """name: {name}
version: "{version}"
summary: A test package
description: A package made by the store's tests.
license: MIT
architectures: [amd64]
confinement: strict
grade: stable
{base}apps:
  {name}:
    command: bin/{name}
"""


def base_image(tmp_path, version, openssl):
    return make_image(tmp_path, "debian-12", version,
                      manifest=BASE_MANIFEST.format(version=version), extra={
                          "meta/sbom.cdx.json": sbom("debian-12", version,
                                                     [libssl3(openssl), ZLIB])})


def app_image(tmp_path, name, version, base="debian-12"):
    return make_image(tmp_path, name, version, manifest=APP_MANIFEST.format(
        name=name, version=version, base=f"base: {base}\n" if base else ""), extra={
        "meta/sbom.cdx.json": sbom(name, version, [])})


def vulns(store, token, name):
    return json.loads(store.ferry(token, "vulns", name, "--json", check=0).stdout)


def settled(store, token, name):
    return wait_for(f"the scans of {name}", lambda: (
        lambda r: r if not r["scan"]["pending"] else None)(vulns(store, token, name)))


def test_app_lists_the_open_findings_of_its_base(store, tmp_path):
    store.start()
    alice, bob = store.account("alice"), store.account("bob")
    # bob publishes the base; alice publishes apps on it and is no
    # collaborator of the base
    store.ferry(bob, "register", "debian-12", check=0)
    store.ferry(alice, "register", "hello", check=0)
    store.ferry(alice, "register", "plain", check=0)
    store.ferry(bob, "push", base_image(tmp_path, "12.10+20250101", OLD), "--release",
                "stable,beta", check=0)
    store.ferry(alice, "push", app_image(tmp_path, "hello", "1.0"), "--release", "stable",
                check=0)
    store.ferry(alice, "push", app_image(tmp_path, "plain", "1.0", base=None), "--release",
                "stable", check=0)
    assert settled(store, alice, "hello")["base_findings"] == []

    feed = write_feed(tmp_path / "feed", [osv_record("CVE-2025-0001", MID, "high")])
    store.admin("vulns", "import", feed)

    # the base's publisher sees the finding for the base's component
    r = wait_for("the base's finding", lambda: vulns(store, bob, "debian-12")["findings"])
    assert [(f["revision"], f["channels"], f["component"], f["bundled_version"])
            for f in r] == [(1, ["latest/stable", "latest/beta"], "libssl3", OLD)]
    p = store.ferry(bob, "vulns", "debian-12", check=0)
    assert p.stdout.startswith("debian-12: 1 open finding in released revisions\n")

    # the app's publisher sees it through the app, marked as the base's
    r = wait_for("the app's base finding",
                 lambda: (lambda v: v if v["base_findings"] else None)(
                     vulns(store, alice, "hello")))
    assert r["state"] == "open" and r["findings"] == []
    [f] = r["base_findings"]
    assert (f["from"], f["base"], f["base_revision"], f["fix"]) == (
        "base", "debian-12", 1, "base-refresh")
    assert (f["channels"], f["revisions"]) == (["latest/stable"], [1])
    assert f["base_channels"] == ["latest/stable", "latest/beta"]
    assert (f["component"], f["bundled_version"], f["fixed_version"], f["advisory"],
            f["severity"]) == ("libssl3", OLD, MID, "DEBIAN-CVE-2025-0001", "high")
    p = store.ferry(alice, "vulns", "hello", check=0)
    lines = p.stdout.splitlines()
    assert lines[0] == "hello: no known vulnerability in its own released revisions"
    assert "hello: 1 open finding from its base" in lines
    row = [ln.split() for ln in lines if ln.startswith("debian-12 (1) ")]
    assert row == [["debian-12", "(1)", "latest/stable", "libssl3", OLD, MID,
                    "DEBIAN-CVE-2025-0001", "high"]]
    assert ("What to do: nothing in hello; these come from its base. A refresh of the "
            "base fixes them (not a rebuild of hello)") in p.stdout
    assert "rebuild hello against" not in p.stdout

    # an app without a base lists none
    r = vulns(store, alice, "plain")
    assert (r["state"], r["findings"], r["base_findings"]) == ("clear", [], [])
    assert "from its base" not in store.ferry(alice, "vulns", "plain", check=0).stdout

    # an app naming another publisher's app as its base learns nothing of
    # that app's findings: only a revision of type base counts
    store.ferry(bob, "register", "secret", check=0)
    store.ferry(bob, "push", make_image(tmp_path, "secret", "1.0", extra={
        "meta/sbom.cdx.json": sbom("secret", "1.0", [libssl3(OLD)])}), "--release", "stable",
        check=0)
    wait_for("the other app's finding", lambda: vulns(store, bob, "secret")["findings"])
    store.ferry(alice, "register", "sneaky", check=0)
    store.ferry(alice, "push", app_image(tmp_path, "sneaky", "1.0", base="secret"),
                "--release", "stable", check=0)
    r = settled(store, alice, "sneaky")
    assert (r["state"], r["base_findings"]) == ("clear", [])

    # released in beta too: the same base revision serves both channels
    store.ferry(alice, "release", "hello", "1", "beta", check=0)
    [f] = vulns(store, alice, "hello")["base_findings"]
    assert f["channels"] == ["latest/beta", "latest/stable"] or \
        f["channels"] == ["latest/stable", "latest/beta"]

    # the base is refreshed in stable, not the app: stable clears, beta
    # (still on base revision 1) keeps it
    store.ferry(bob, "push", base_image(tmp_path, "12.11+20250201", MID), "--release",
                "stable", check=0)
    [f] = vulns(store, alice, "hello")["base_findings"]
    assert (f["base_revision"], f["channels"], f["revisions"]) == (1, ["latest/beta"], [1])
    store.ferry(bob, "release", "debian-12", "2", "beta", check=0)
    r = settled(store, alice, "hello")
    assert (r["state"], r["findings"], r["base_findings"]) == ("clear", [], [])
    assert "from its base" not in store.ferry(alice, "vulns", "hello", check=0).stdout
    assert store.stop() == 0
