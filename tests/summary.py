#!/usr/bin/python3
"""Counts test results over all suites and prints `N passed, N failed`.

Reads meson's testlog.json (cmocka programs report their own case counts in
their output; any other test counts once) and every JUnit XML file in the
results directory (pytest, the TUF conformance suite)."""
import glob
import json
import os
import re
import sys
import xml.etree.ElementTree as ET


def meson_counts(path):
    passed = failed = 0
    if not os.path.exists(path):
        return 0, 1
    with open(path) as f:
        for line in f:
            t = json.loads(line)
            ok = t.get("result") in ("OK", "EXPECTEDFAIL", "SKIP")
            out = (t.get("stdout") or "") + (t.get("stderr") or "")
            p = re.search(r"\[  PASSED  \] (\d+) test", out)
            fl = re.search(r"\[  FAILED  \] (\d+) test", out)
            if p or fl:
                passed += int(p.group(1)) if p else 0
                failed += int(fl.group(1)) if fl else 0
                if not ok and not fl:
                    failed += 1  # crashed after its cases ran
            elif ok:
                passed += 1
            else:
                failed += 1
    return passed, failed


def junit_counts(path):
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError:
        return 0, 1
    passed = failed = 0
    for case in root.iter("testcase"):
        kinds = {child.tag for child in case}
        if kinds & {"failure", "error"}:
            failed += 1
        elif "skipped" in kinds:
            continue
        else:
            passed += 1
    return passed, failed


def main():
    testlog, results = sys.argv[1], sys.argv[2]
    passed, failed = meson_counts(testlog)
    for xml in sorted(glob.glob(os.path.join(results, "*.xml"))):
        p, f = junit_counts(xml)
        print(f"{os.path.basename(xml)}: {p} passed, {f} failed", file=sys.stderr)
        passed += p
        failed += f
    print(f"{passed} passed, {failed} failed")


if __name__ == "__main__":
    main()
