"""Matching with real Debian packages: the oldest and the newest libssl3 the
archive offers, and OSV records (one per CVE, as osv.dev writes Debian's
DEBIAN-CVE-* records for the source package openssl in Debian 12) built from
the CVEs that the newer package's own changelog.Debian says were fixed since
the older one. The older libssl3 must be affected by every one of them, with
the version that fixed it, and the newer by none. Imported from a zip, the
way osv.dev's dumps come, with one malformed record that must be reported
and skipped."""
import gzip
import io
import json
import os
import re
import subprocess
import tarfile
import zipfile

import pytest

from conftest import BUILD

VULNSCAN = os.path.join(BUILD, "tests/helpers/vulnscan")


def dpkg_lt(a, b):
    return subprocess.run(["dpkg", "--compare-versions", a, "lt", b]).returncode == 0


def fetch(tmp, version):
    p = subprocess.run(["apt-get", "download", f"libssl3={version}"], cwd=tmp,
                       capture_output=True, text=True)
    if p.returncode != 0:
        pytest.skip(f"apt-get download libssl3={version}: {p.stderr.strip()}")
    debs = [f for f in os.listdir(tmp) if f.startswith("libssl3_") and f.endswith(".deb")
            and f.split("_")[1].replace("%3a", ":") == version]
    assert len(debs) == 1, os.listdir(tmp)
    return os.path.join(tmp, debs[0])


def purl_of(deb):
    f = {}
    for field in ("Package", "Version", "Architecture", "Source"):
        out = subprocess.run(["dpkg-deb", "-f", deb, field], capture_output=True, text=True)
        f[field] = out.stdout.strip()
    src = f["Source"] or f["Package"]
    m = re.match(r"(\S+) \((\S+)\)", src)
    upstream = f"{m.group(1)}%40{m.group(2)}" if m else src
    version = f["Version"].replace("+", "%2B")
    return (f"pkg:deb/debian/{f['Package']}@{version}?arch={f['Architecture']}"
            f"&distro=debian-12&upstream={upstream}")


def changelog_cves(deb, since):
    """{CVE: (version that fixed it, urgency)} for changelog entries newer
    than since."""
    out = subprocess.run(["dpkg-deb", "--fsys-tarfile", deb], capture_output=True, check=True)
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as t:
        member = t.extractfile("./usr/share/doc/libssl3/changelog.Debian.gz")
        text = gzip.decompress(member.read()).decode()
    cves, version, urgency = {}, None, None
    for line in text.splitlines():
        m = re.match(r"^openssl \(([^)]+)\) \S+; urgency=(\S+)", line)
        if m:
            version, urgency = m.group(1), m.group(2)
            if not dpkg_lt(since, version):
                break
            continue
        for cve in re.findall(r"CVE-\d{4}-\d{4,}", line):
            cves.setdefault(cve, (version, urgency))
    return cves


def osv_record(cve, fixed, urgency):
    return {
        "schema_version": "1.6.0",
        "id": f"DEBIAN-{cve}",
        "modified": "2026-10-21T10:00:00Z",
        "published": "2026-10-21T10:00:00Z",
        "upstream": [cve],
        "summary": f"openssl: {cve}",
        "affected": [{
            "package": {"ecosystem": "Debian:12", "name": "openssl",
                        "purl": "pkg:deb/debian/openssl?arch=source"},
            "ranges": [{"type": "ECOSYSTEM",
                        "events": [{"introduced": "0"}, {"fixed": fixed}]}],
            "ecosystem_specific": {"urgency": urgency},
        }],
    }


def scan(advisories, *purls):
    p = subprocess.run([VULNSCAN, advisories, *purls], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    findings = [ln.split("\t") for ln in lines[1:]]
    return lines[0], findings, p.stderr


@pytest.fixture(scope="module")
def packages(tmp_path_factory):
    if not os.path.exists(VULNSCAN):
        pytest.fail(f"{VULNSCAN} is not built; run tests/run")
    out = subprocess.run(["apt-cache", "madison", "libssl3"], capture_output=True,
                         text=True).stdout
    versions = sorted({ln.split("|")[1].strip() for ln in out.splitlines() if "|" in ln},
                      key=__import__("functools").cmp_to_key(
                          lambda a, b: -1 if dpkg_lt(a, b) else (1 if dpkg_lt(b, a) else 0)))
    if len(versions) < 2:
        pytest.skip(f"the archive offers only {versions} of libssl3")
    tmp = str(tmp_path_factory.mktemp("debs"))
    old, new = versions[0], versions[-1]
    return tmp, old, fetch(tmp, old), new, fetch(tmp, new)


def test_old_libssl3_affected_through_openssl_new_not(packages):
    tmp, old, old_deb, new, new_deb = packages
    cves = changelog_cves(new_deb, old)
    assert cves, f"no CVE in libssl3 {new}'s changelog since {old}"
    zpath = os.path.join(tmp, "all.zip")
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
        for cve, (fixed, urgency) in sorted(cves.items()):
            z.writestr(f"DEBIAN-{cve}.json", json.dumps(osv_record(cve, fixed, urgency)))
        bad = osv_record("CVE-0000-0000", "3.0 beta", "low")
        z.writestr("DEBIAN-CVE-0000-0000.json", json.dumps(bad))

    old_purl, new_purl = purl_of(old_deb), purl_of(new_deb)
    assert "upstream=openssl" in old_purl
    head, findings, stderr = scan(zpath, old_purl, new_purl)
    assert head == f"imported {len(cves)} rejected 1"
    assert (f"rejected: {zpath}:DEBIAN-CVE-0000-0000.json: record DEBIAN-CVE-0000-0000: "
            "affected[0].ranges[0].events[1].fixed: version '3.0 beta' has embedded spaces"
            in stderr)
    got = {f[1]: f for f in findings}
    assert all(f[0] == old_purl for f in findings), "the newer libssl3 must not be affected"
    assert sorted(got) == sorted(f"DEBIAN-{c}" for c in cves)
    for cve, (fixed, urgency) in cves.items():
        _, _, fx, sev, aliases = got[f"DEBIAN-{cve}"]
        assert (fx, sev, aliases) == (fixed, urgency, cve)
        assert dpkg_lt(old, fx) and not dpkg_lt(new, fx)


def test_withdrawn_and_reimported(packages):
    tmp, old, old_deb, new, new_deb = packages
    cves = sorted(changelog_cves(new_deb, old).items())
    d = os.path.join(tmp, "feed")
    os.makedirs(d, exist_ok=True)
    for cve, (fixed, urgency) in cves:
        rec = osv_record(cve, fixed, urgency)
        if cve == cves[0][0]:
            rec["withdrawn"] = "2026-10-22T00:00:00Z"
            rec["modified"] = "2026-10-22T00:00:00Z"
        with open(os.path.join(d, f"DEBIAN-{cve}.json"), "w") as f:
            json.dump(rec, f)
    head, findings, _ = scan(d, purl_of(old_deb))
    assert head == f"imported {len(cves)} rejected 0"
    ids = {f[1] for f in findings}
    assert f"DEBIAN-{cves[0][0]}" not in ids
    assert len(ids) == len(cves) - 1
