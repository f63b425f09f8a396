#!/usr/bin/env python3
"""Prints the medians of bench/table.sh's runs as the markdown table of docs/performance-history.md ("Results: tickgate vs the baseline")."""
import glob, json, os, statistics, sys

d = sys.argv[1]

def load(name):
    out = []
    for p in sorted(glob.glob(os.path.join(d, name + ".json"))):
        with open(p) as f:
            r = json.load(f)
        r["slow_gone"] = sum(n for k, n in (r.get("slow_drain") or {}).items() if k != "still_open")
        out.append(r)
    return out

def med(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None

def fmt(v, nd=1):
    return "—" if v is None else f"{v:,.{nd}f}"

cols = [("deliveries_per_sec", "deliveries/s", 0), ("latency_p50_ms", "p50 ms", 2),
        ("latency_p99_ms", "p99 ms", 2), ("gaps", "gaps", 0), ("server_slow_consumers", "slow dropped", 0),
        ("slow_gone", "never-reading clients dropped", 0),
        ("server_rss_per_conn_bytes", "RSS/conn B", 0), ("server_cpu_us_per_delivery", "server µs/delivery", 2)]
print("| workload | target | runs | feed ticks/s | " + " | ".join(c[1] for c in cols) + " | deliveries ratio |")
print("|---|---|---|---|" + "---|" * len(cols) + "---|")
for w in ["fanout-100", "hot", "idle", "light", "slow-clean", "slow"]:
    base = load(f"{w}-[0-9]-baseline")
    for t in ["tickgate", "baseline"]:
        rows = load(f"{w}-[0-9]-{t}")
        if not rows:
            continue
        ratio = ""
        if t == "tickgate" and base and med(base, "deliveries_per_sec"):
            ratio = f"{med(rows, 'deliveries_per_sec') / med(base, 'deliveries_per_sec'):.2f}×"
        print(f"| {w} | {t} | {len(rows)} | {fmt(med(rows, 'feed_rate'))} | "
              + " | ".join(fmt(med(rows, k), nd) for k, _, nd in cols) + f" | {ratio} |")
for t in ["tickgate", "baseline"]:
    for p in glob.glob(os.path.join(d, f"fanout-findmax-{t}.json")):
        fm = json.load(open(p))
        print(f"\nfind-max {t}: max rate {fm['max_rate']:.1f} ticks/s = {fm['max_deliveries_per_sec']:,.0f} deliveries/s; steps: "
              + ", ".join(f"{s['rate']:.1f}{'✓' if s['pass'] else '✗'}" for s in fm["steps"]))
