#!/usr/bin/python3
"""Synthetic data for bench/vulns/run, from this system's real Debian package
lists: pkgs.tsv (binary, version, source, source version: one line per binary
package the archive offers) and advisories.zip (N OSV records in the shape
osv.dev gives Debian advisories, naming real source packages, with fixed
versions around the real ones so that some bundled versions are affected and
some are not). Deterministic for a given package list and seed.

    gen.py OUTDIR [N_ADVISORIES]"""
import json
import os
import random
import re
import subprocess
import sys
import zipfile


def packages():
    out = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True,
                         check=True).stdout
    rows = []
    for stanza in out.split("\n\n"):
        f = {}
        for line in stanza.splitlines():
            if ":" in line and not line.startswith(" "):
                k, v = line.split(":", 1)
                f[k] = v.strip()
        if "Package" not in f or "Version" not in f:
            continue
        src, srcver = f.get("Source", f["Package"]), f["Version"]
        m = re.match(r"(\S+) \((\S+)\)", src)
        if m:
            src, srcver = m.group(1), m.group(2)
        rows.append((f["Package"], f["Version"], src, srcver))
    rows.sort()
    return rows


def main():
    outdir = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 50000
    rnd = random.Random(2024)
    rows = packages()
    with open(os.path.join(outdir, "pkgs.tsv"), "w") as f:
        for r in rows:
            f.write("\t".join(r) + "\n")
    sources = sorted({(r[2], r[3]) for r in rows})
    with zipfile.ZipFile(os.path.join(outdir, "advisories.zip"), "w",
                         zipfile.ZIP_DEFLATED) as z:
        for i in range(n):
            src, ver = rnd.choice(sources)
            kind = rnd.random()
            if kind < 0.4:
                fixed = ver + "+deb12u" + str(rnd.randint(1, 9))  # above: affected
            elif kind < 0.8:
                fixed = ver + "~" + str(rnd.randint(1, 9))        # below: not affected
            else:
                fixed = None                                       # no fix yet
            events = [{"introduced": "0"}] + ([{"fixed": fixed}] if fixed else [])
            cve = f"CVE-{2015 + i % 10}-{10000 + i}"
            rec = {
                "schema_version": "1.6.0",
                "id": f"DEBIAN-{cve}",
                "modified": "2024-06-18T00:00:00Z",
                "published": "2024-06-01T00:00:00Z",
                "upstream": [cve],
                "summary": f"{src}: security update",
                "details": f"A vulnerability was found in {src}.",
                "affected": [{
                    "package": {"ecosystem": "Debian:12", "name": src,
                                "purl": f"pkg:deb/debian/{src}?arch=source"},
                    "ranges": [{"type": "ECOSYSTEM", "events": events}],
                    "ecosystem_specific": {"urgency": rnd.choice(
                        ["low", "medium", "high", "not yet assigned"])},
                }, {
                    "package": {"ecosystem": "Debian:11", "name": src},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}],
                }],
            }
            z.writestr(f"DEBIAN-{cve}.json", json.dumps(rec))
    print(f"{len(rows)} binary packages from {len(sources)} sources, {n} advisories")


if __name__ == "__main__":
    main()
