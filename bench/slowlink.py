#!/usr/bin/env python3
"""Prints the medians of bench/slowlink.sh's runs as the slow-link table of
docs/performance.md: per link kind and client, bytes/s, tick latency and the
displayed price's age (p50 / p99), the age's p99 over the reference client's
of the same runs, and the conflated and live notices of each run.

    python3 bench/slowlink.py DIR [KIND...]
    python3 bench/slowlink.py FILE.ndjson -build BUILD [KIND...]

DIR is a run's folder (KIND-N.json, one run each); FILE.ndjson holds runs of
several builds, one a line ({"run": "KIND-N", "build": ..., "result": ...}),
as bench/results keeps them, and -build picks one's. KINDs default to tbf
and loss."""
import glob, json, os, statistics, sys


def load(src, build, kind):
    if os.path.isdir(src):
        return [json.load(open(p)) for p in sorted(glob.glob(os.path.join(src, kind + "-*.json")))]
    with open(src) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [r["result"] for r in rows if r.get("build") == build and r["run"].rsplit("-", 1)[0] == kind and "result" in r]


args = sys.argv[1:]
build = None
if "-build" in args:
    i = args.index("-build")
    build = args[i + 1]
    del args[i:i + 2]
if not args or (not os.path.isdir(args[0]) and build is None):
    sys.exit(__doc__)
src, kinds = args[0], args[1:] or ["tbf", "loss"]
print("| link | client | runs | bytes/s | tick latency p50 / p99 s | displayed age p50 / p99 s | age p99 ÷ ref's | notices per run | closed |")
print("|---|---|---|---|---|---|---|---|---|")
for kind in kinds:
    runs = load(src, build, kind)
    if not runs:
        continue
    label = f"tbf, loss {runs[0]['loss']:g} each way" if runs[0]["loss"] else "tbf"
    for name in [c["name"] for c in runs[0]["clients"]]:
        rows = [c for r in runs for c in r["clients"] if c["name"] == name]
        refs = [c for r in runs for c in r["clients"] if c["name"] == "ref *"]
        med = lambda k, rs=rows: statistics.median(c[k] for c in rs)
        ratio = med("age_p99_ms") / med("age_p99_ms", refs)
        notices = " / ".join(str(len(c["notices"])) for c in rows)
        closed = " / ".join(c["closed"] or "no" for c in rows)
        print(f"| {label} | {name} | {len(rows)} | {med('bytes_per_sec')/1e3:,.0f} K | "
              f"{med('latency_p50_ms')/1e3:.2f} / {med('latency_p99_ms')/1e3:.2f} | "
              f"{med('age_p50_ms')/1e3:.2f} / {med('age_p99_ms')/1e3:.2f} | {ratio:.2f}× | {notices} | {closed} |")
