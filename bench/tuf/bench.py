#!/usr/bin/python3
"""bench/tuf: what a device pays to check one package, as the store grows.

For stores of 100, 1,000 and 10,000 packages written by ferry's TUF writer
(each package: a role of its own with a channel map and an image), served
over HTTP on 127.0.0.1, it measures for ferry's client (ferry-tuf-client) and
tuf-js (tests/interop) in the same run:
  (a) a refresh that finds nothing new,
  (b) a refresh plus the look-up of one package's channel map, after one
      unrelated package changed,
the bytes the server sent (bodies) and the wall time of the client process
(median of --runs), and the sizes of the metadata files involved.

Usage: bench/tuf/bench.py [--sizes 100,1000,10000] [--runs 5] [--bins 2]
The build is build-bench/ (release, no sanitizers), set up on first use.
Prints a Markdown table for docs/BENCHMARKS.md."""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(TOP, "build-bench")
os.environ["FERRY_BUILD"] = BUILD
sys.path.insert(0, os.path.join(TOP, "tests", "system"))

from tuf_harness import Client, Repo, TamperServer, need_node  # noqa: E402


def build():
    if not os.path.exists(os.path.join(BUILD, "build.ninja")):
        subprocess.run(["meson", "setup", BUILD, "-Dbuildtype=release"], cwd=TOP, check=True,
                       stdout=subprocess.DEVNULL)
    subprocess.run(["ninja", "-C", BUILD, "-j2"], check=True, stdout=subprocess.DEVNULL)


def measure(server, fn):
    server.reset_counters()
    t0 = time.monotonic()
    p = fn()
    dt = time.monotonic() - t0
    if p.returncode != 0:
        raise SystemExit(f"client failed: {p.stderr}")
    return server.bytes_sent, dt, len(server.requests)


def size(repo, role):
    return len(repo.read(f"{repo.version(role)}.{role}.json"))


def bench_size(n, bins, runs, tmp):
    repo = Repo(os.path.join(tmp, f"repo-{n}-{bins}"), track=False).init("--bin-digits", str(bins))
    t0 = time.monotonic()
    repo.edit("populate", str(n))
    populate_s = time.monotonic() - t0
    server = TamperServer(repo.published)
    cm = repo.target_path("p0", "channels.json")
    bin_role = "bin-" + cm[:bins]
    row = {
        "n": n, "bins": 16 ** bins, "populate_s": populate_s,
        "timestamp": len(repo.read("timestamp.json")), "snapshot": size(repo, "snapshot"),
        "targets": size(repo, "targets"), "bin": size(repo, bin_role),
        "package": size(repo, "pkg-p0"),
    }
    try:
        clients = {kind: Client(tmp, server, kind, name=f"{kind}-{n}-{bins}")
                   for kind in ("ferry", "tuf-js")}
        for kind, c in clients.items():
            c.init(os.path.join(repo.metadata, "1.root.json"))
            row[f"{kind}_cold"] = measure(server, lambda: c.download(cm))
        a = {k: [] for k in clients}
        b = {k: [] for k in clients}
        for i in range(runs):
            for kind, c in clients.items():
                a[kind].append(measure(server, c.refresh))
            # one unrelated package changes: a new channel map for p{n-1}
            src = os.path.join(tmp, "cm")
            with open(src, "w") as f:
                f.write('{"channels":{"latest/stable":%d}}\n' % (i + 2))
            repo.edit("add-target", f"p{n - 1}", "channels.json", src)
            for kind, c in clients.items():
                b[kind].append(measure(server, lambda: c.download(cm)))
        for kind in clients:
            row[f"{kind}_a"] = (statistics.median(x[0] for x in a[kind]),
                                statistics.median(x[1] for x in a[kind]),
                                statistics.median(x[2] for x in a[kind]))
            row[f"{kind}_b"] = (statistics.median(x[0] for x in b[kind]),
                                statistics.median(x[1] for x in b[kind]),
                                statistics.median(x[2] for x in b[kind]))
    finally:
        server.close()
    return row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--bins", default="2", help="comma-separated bin digits (1..3)")
    args = ap.parse_args()
    build()
    need_node()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ferry-bench-tuf-") as tmp:
        for bins in map(int, args.bins.split(",")):
            for n in map(int, args.sizes.split(",")):
                rows.append(bench_size(n, bins, args.runs, tmp))
                print(f"# done: {n} packages, {16 ** bins} bins", file=sys.stderr)

    print("Metadata sizes (bytes) and the time the writer took to publish the store "
          "in one commit:\n")
    print("| packages | bins | timestamp | snapshot | targets | one bin | one package role "
          "| publish all |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['n']:,} | {r['bins']} | {r['timestamp']:,} | {r['snapshot']:,} | "
              f"{r['targets']:,} | {r['bin']:,} | {r['package']:,} | {r['populate_s']:.1f} s |")
    print("\nWhat one device downloads (bytes, requests) and how long the client took "
          f"(median of {args.runs}):\n")
    print("| packages | bins | case | ferry bytes | tuf-js bytes | ferry time | tuf-js time "
          "| time ratio ferry/tuf-js |")
    print("|---:|---:|---|---:|---:|---:|---:|---:|")
    cases = (("cold", "first look-up of one channel map (new device)"),
             ("a", "(a) refresh, nothing new"),
             ("b", "(b) refresh + one channel map, one other package changed"))
    for r in rows:
        for key, label in cases:
            f, j = r[f"ferry_{key}"], r[f"tuf-js_{key}"]
            print(f"| {r['n']:,} | {r['bins']} | {label} | {int(f[0]):,} ({int(f[2])}) | "
                  f"{int(j[0]):,} ({int(j[2])}) | {f[1] * 1000:.0f} ms | {j[1] * 1000:.0f} ms | "
                  f"{f[1] / j[1]:.2f} |")


if __name__ == "__main__":
    main()
