"""The loop from a vulnerability notice to a fixed release, end to end, with
real Debian packages and a real store (SQLite and PostgreSQL):

  1. pack an app that stages the oldest libssl3 the archive still offers,
     push it and release it to stable;
  2. import OSV records, written as osv.dev writes Debian's (ecosystem
     Debian:12, source package openssl, ECOSYSTEM ranges), one per CVE that
     the newest libssl3's own changelog.Debian says was fixed since;
  3. see every one of them in `ferry vulns`, and the signed notice arrive at
     the publisher's webhook (a receiver on 127.0.0.1, checking the
     signature as a CI would);
  4. rebuild without the pin (stage-packages takes the newest version the
     archive offers), push and release to stable;
  5. see the notice clear, in `ferry vulns` and at the webhook."""
import functools
import json
import os
import subprocess
import zipfile

import pytest

from conftest import run
from packing import EPOCH, deb_cache, write_tree
from storelib import backend, postgres, store  # noqa: F401 (fixtures)
from test_vuln_debian import changelog_cves, dpkg_lt, fetch, osv_record
from vulnlib import Receiver, signature_ok, wait_for

MANIFEST = """\
name: tls-app
version: "{version}"
summary: Bundles libssl3
description: An app that bundles the TLS library it links.
license: MIT
apps:
  tls-app:
    command: bin/tls-app
parts:
  ssl:
    stage-packages: [{ssl}]
    prime: ["-usr/share/doc", "-usr/share/lintian"]
"""


@pytest.fixture(scope="module")
def libssl3(tmp_path_factory):
    """(oldest, newest, {CVE: (fixed, urgency)}) from the archive."""
    out = subprocess.run(["apt-cache", "madison", "libssl3"], capture_output=True,
                         text=True).stdout
    cmp = functools.cmp_to_key(lambda a, b: -1 if dpkg_lt(a, b) else (1 if dpkg_lt(b, a)
                                                                      else 0))
    versions = sorted({ln.split("|")[1].strip() for ln in out.splitlines() if "|" in ln},
                      key=cmp)
    if len(versions) < 2:
        pytest.skip(f"the archive offers only {versions} of libssl3")
    old, new = versions[0], versions[-1]
    tmp = str(tmp_path_factory.mktemp("debs"))
    cves = changelog_cves(fetch(tmp, new), old)
    assert cves, f"no CVE in libssl3 {new}'s changelog since {old}"
    return old, new, cves


def pack(tmp, version, ssl):
    root = write_tree(os.path.join(tmp, f"tree-{version}"),
                      manifest=MANIFEST.format(version=version, ssl=ssl),
                      files={"bin/tls-app": ("#!/bin/sh\necho tls\n", 0o755)})
    p = run("ferry", "pack", root, "--deb-cache", deb_cache(), cwd=tmp, check=0,
            env={"SOURCE_DATE_EPOCH": EPOCH})
    image = os.path.join(tmp, p.stdout.splitlines()[0])
    comps = json.loads(run("ferry", "inspect", "--json", image, check=0).stdout)["components"]
    return image, {c["name"]: c["version"] for c in comps}


def test_notice_rebuild_release_clears(store, tmp_path, libssl3):
    old, new, cves = libssl3
    tmp = str(tmp_path)
    secret = os.urandom(32).hex().encode()
    (tmp_path / "hook-secret").write_bytes(secret + b"\n")
    with Receiver() as rx:
        # the receiver listens on the loopback
        store.start(args=("--webhook-allow-private",))
        alice = store.account("alice")
        store.owner_tokens["alice"] = alice
        ferry = lambda *a, **kw: store.ferry(alice, *a, **kw)  # noqa: E731
        ferry("register", "tls-app", check=0)
        ferry("webhooks", "add", "tls-app", rx.url, "--secret-file", tmp_path / "hook-secret",
              check=0)

        # 1. the app with the old libssl3, released to stable
        image, comps = pack(tmp, "1.0", f"libssl3={old}")
        assert comps["libssl3"] == old
        p = ferry("push", image, "--release", "stable", check=0)
        assert p.stdout == "released tls-app revision 1 to latest/stable\n"

        # 2. the advisories, as a zip the way osv.dev's dumps come
        feed = os.path.join(tmp, "debian.zip")
        with zipfile.ZipFile(feed, "w", zipfile.ZIP_DEFLATED) as z:
            for cve, (fixed, urgency) in sorted(cves.items()):
                z.writestr(f"DEBIAN-{cve}.json", json.dumps(osv_record(cve, fixed, urgency)))
        p = store.admin("vulns", "import", feed)
        assert f"{len(cves)} added" in p.stdout

        # 3. the notice, in ferry vulns and at the webhook
        want = {f"DEBIAN-{c}": fixed for c, (fixed, _) in cves.items()}

        def open_findings():
            r = json.loads(ferry("vulns", "tls-app", "--json", check=0).stdout)
            return r["findings"] if len(r["findings"]) == len(want) else None
        found = wait_for("every CVE as a finding", open_findings)
        assert {f["advisory"]: f["fixed_version"] for f in found} == want
        for f in found:
            assert (f["revision"], f["channels"], f["component"], f["bundled_version"],
                    f["source"]) == (1, ["latest/stable"], "libssl3", old, "openssl")
            assert f["aliases"] == [f["advisory"][len("DEBIAN-"):]]
            assert f["severity"] == cves[f["aliases"][0]][1]
        p = ferry("vulns", "tls-app", check=0)
        n = len(want)
        assert p.stdout.startswith(
            f"tls-app: {n} open finding{'s' if n > 1 else ''} in released revisions\n")

        got = wait_for("the open notice", lambda: [r for r in rx.received()
                                                   if json.loads(r["body"])["state"] == "open"])
        assert signature_ok(secret, got[0]["body"], got[0]["headers"]["X-Ferry-Signature"])
        notice = json.loads(got[0]["body"])
        assert notice["package"] == "tls-app"
        assert {f["advisory"]: f["fixed_version"] for f in notice["findings"]} == want

        # 4. a plain rebuild takes the newest libssl3; push and release
        image, comps = pack(tmp, "1.1", "libssl3")
        assert comps["libssl3"] == new
        ferry("push", image, "--release", "stable", check=0)

        # 5. the notice clears
        def cleared():
            r = json.loads(ferry("vulns", "tls-app", "--json", check=0).stdout)
            return r if r["state"] == "clear" and not r["scan"]["pending"] else None
        r = wait_for("the notice to clear", cleared)
        assert {(h["revision"], h["advisory"], h["cleared_reason"]) for h in r["history"]} == {
            (1, a, "not-released") for a in want}
        assert ferry("vulns", "tls-app", check=0).stdout.startswith(
            "tls-app: no known vulnerability in its released revisions\n")
        got = wait_for("the cleared notice", lambda: [
            r for r in rx.received() if json.loads(r["body"])["state"] == "cleared"])
        assert signature_ok(secret, got[0]["body"], got[0]["headers"]["X-Ferry-Signature"])
        assert {f["advisory"] for f in json.loads(got[0]["body"])["findings"]} == set(want)
        assert store.stop() == 0
