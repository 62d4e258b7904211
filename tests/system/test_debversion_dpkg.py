"""Debian version ordering: ferry's comparison (lib/vuln/debversion.c, through
the vercmp helper) against dpkg's own `dpkg --compare-versions`, over real
version strings from this system's package lists and tricky synthetic ones.

dpkg costs one process per comparison, so it checks a sample of a few
thousand pairs chosen where mistakes hide (neighbours in sorted order,
versions of the same package, the synthetic set); python3-apt's
apt_pkg.version_compare, which implements the same algorithm, then checks
every neighbouring pair and a large random sample."""
import functools
import os
import random
import shutil
import subprocess

import pytest

from conftest import BUILD

VERCMP = os.path.join(BUILD, "tests/helpers/vercmp")

SYNTHETIC = [
    "0", "00", "0.0", "0:0", "1", "1.0", "1.00", "1.0.0", "1.0-0", "1.0-1", "1.0-1.1",
    "1.0~", "1.0~~", "1.0~~a", "1.0~a", "1.0~rc1", "1.0~rc1-1", "1.0~rc10", "1.0~rc2",
    "1.0a", "1.0A", "1.0+", "1.0.", "1.0+a", "1.0.a", "1.0-a", "1.0-A", "1.0-+", "1.0-~",
    "1.0-1~", "1.0-1+b1", "1.0-1+b10", "1.0-1+b2", "1.0-1+deb12u1", "1.0-1~deb12u1",
    "1.0-1~bpo12+1", "1:1.0", "2:0.1", "10:0", "1:0", "01:1", "1.0000000000000000000001",
    "1.99999999999999999999999", "1.100000000000000000000000", "1:2:3", "1:2:3-4",
    "1.2-3-4", "1.2-3-4-5", "1.2.3+dfsg-1", "1.2.3+dfsg1-1", "1.2.3.dfsg-1", "1.2.3~dfsg-1",
    "9", "10", "9a", "9~", "a9", "1a1", "1a2", "1aa", "1z", "1Z", "1.z", "1.Z", "1.+",
    "3.0.11-1~deb12u2", "3.0.13-1~deb12u1", "3.0.15-1~deb12u1", "3.0.16-1~deb12u1",
    "3.0.17-1~deb12u2", "3.0.17-1~deb12u3", "2.36-9+deb12u10", "2.36-9+deb12u9",
]


def system_versions():
    """Every Version: in the apt package lists (all suites, so several
    versions of many packages), plus what dpkg has installed."""
    versions_by_pkg = {}
    targets = subprocess.run(
        ["apt-get", "indextargets", "--format", "$(FILENAME)", "Identifier: Packages"],
        capture_output=True, text=True).stdout.split()
    targets = [t for t in targets if os.path.exists(t)]
    if targets:
        out = subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", *targets],
                             capture_output=True, text=True).stdout
    else:
        out = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True).stdout
    pkg = None
    for line in out.splitlines():
        if line.startswith("Package: "):
            pkg = line[9:].strip()
        elif line.startswith("Version: ") and pkg:
            versions_by_pkg.setdefault(pkg, set()).add(line[9:].strip())
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${Version}\n"],
                         capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2:
            versions_by_pkg.setdefault(parts[0], set()).add(parts[1])
    return versions_by_pkg


def ferry_compare(pairs, mode="deb"):
    text = "".join(f"{a}\t{b}\n" for a, b in pairs)
    p = subprocess.run([VERCMP, mode], input=text, capture_output=True, text=True, check=True)
    out = p.stdout.splitlines()
    assert len(out) == len(pairs)
    return out


def dpkg_compare(pairs):
    """dpkg's verdicts, one process per question, run from one shell."""
    script = []
    for a, b in pairs:
        script.append(f"if dpkg --compare-versions '{a}' lt '{b}' 2>/dev/null; then echo '<'; "
                      f"elif dpkg --compare-versions '{a}' gt '{b}' 2>/dev/null; then echo '>'; "
                      f"else echo '='; fi")
    p = subprocess.run(["sh", "-s"], input="\n".join(script) + "\n", capture_output=True,
                       text=True, check=True)
    out = p.stdout.splitlines()
    assert len(out) == len(pairs)
    return out


@pytest.fixture(scope="module")
def corpus():
    if not os.path.exists(VERCMP):
        pytest.fail(f"{VERCMP} is not built; run tests/run")
    by_pkg = system_versions()
    versions = sorted({v for vs in by_pkg.values() for v in vs} | set(SYNTHETIC))
    assert len(versions) > 5000, "too few versions on this system to be a real test"
    return by_pkg, versions


def test_ferry_accepts_every_real_version(corpus):
    _, versions = corpus
    verdicts = ferry_compare([(v, v) for v in versions])
    bad = [(v, r) for v, r in zip(versions, verdicts) if r != "="]
    assert not bad, bad[:10]


def test_ferry_matches_dpkg(corpus):
    by_pkg, versions = corpus
    rnd = random.Random(7)
    pairs = []
    # pairs of the synthetic set
    synthetic_pairs = [(a, b) for a in SYNTHETIC for b in SYNTHETIC if a < b]
    pairs += rnd.sample(synthetic_pairs, min(1200, len(synthetic_pairs)))
    # versions of the same package (suites, security updates)
    multi = [sorted(vs) for vs in by_pkg.values() if len(vs) > 1]
    rnd.shuffle(multi)
    for vs in multi[:600]:
        pairs.append((vs[0], vs[1]))
    # neighbours in sorted order (nearly equal versions), when python3-apt
    # is there to sort them; dpkg itself decides below
    try:
        import apt_pkg
        apt_pkg.init_system()
        ordered = sorted(versions, key=functools.cmp_to_key(apt_pkg.version_compare))
        start = rnd.randrange(0, max(1, len(ordered) - 800))
        pairs += list(zip(ordered[start:start + 800], ordered[start + 1:start + 801]))
    except ImportError:
        pass
    # random real pairs, and real versions against synthetic ones
    for _ in range(600):
        pairs.append((rnd.choice(versions), rnd.choice(versions)))
    for _ in range(300):
        pairs.append((rnd.choice(versions), rnd.choice(SYNTHETIC)))
    assert len(pairs) >= 2500
    ours = ferry_compare(pairs)
    theirs = dpkg_compare(pairs)
    diffs = [(a, b, o, t) for (a, b), o, t in zip(pairs, ours, theirs) if o != t]
    assert not diffs, f"{len(diffs)} of {len(pairs)} differ from dpkg, e.g. {diffs[:10]}"


def test_ferry_matches_apt_pkg_on_all_neighbours(corpus):
    """apt_pkg (python3-apt) implements dpkg's algorithm: use it to check
    every neighbour in sorted order and 200,000 random pairs."""
    apt_pkg = pytest.importorskip("apt_pkg")
    apt_pkg.init_system()
    _, versions = corpus
    ordered = sorted(versions, key=functools.cmp_to_key(apt_pkg.version_compare))
    rnd = random.Random(11)
    pairs = list(zip(ordered, ordered[1:]))
    pairs += [(rnd.choice(versions), rnd.choice(versions)) for _ in range(200000)]
    ours = ferry_compare(pairs)
    sign = {-1: "<", 0: "=", 1: ">"}
    diffs = []
    for (a, b), o in zip(pairs, ours):
        t = apt_pkg.version_compare(a, b)
        t = sign[(t > 0) - (t < 0)]
        if o != t:
            diffs.append((a, b, o, t))
    assert not diffs, f"{len(diffs)} of {len(pairs)} differ from apt_pkg, e.g. {diffs[:10]}"


def test_dpkg_is_the_real_one():
    """The reference must itself order ~ first, or the comparison above
    proves nothing."""
    assert shutil.which("dpkg")
    assert dpkg_compare([("1.0~rc1", "1.0"), ("1:0.1", "2.0"), ("1.0", "1.0-0")]) == \
        ["<", ">", "="]
