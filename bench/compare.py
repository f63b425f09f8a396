#!/usr/bin/env python3
"""Prints bench/compare.sh's runs as the side-by-side tables of docs/performance.md:
medians per workload and target, and every ratio against the floor and Centrifugo.
"other CPU-s" is the CPU other processes on the box used in the window (8 s
window, 2 cores: 16 CPU-s is the whole box)."""
import glob, json, os, re, statistics, sys

d = sys.argv[1]
TARGETS = ["tickgate", "floor", "centrifugo", "baseline"]

def load(w, t):
    out = []
    for p in sorted(glob.glob(os.path.join(d, f"{w}-[0-9]*-{t}.json"))):
        with open(p) as f:
            out.append(json.load(f))
    return out

def med(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else None

def fmt(v, nd=1):
    return "—" if v is None else f"{v:,.{nd}f}"

def ratio(a, b):
    return "—" if a is None or not b else f"{a / b:.2f}×"

print("| workload | target | runs | deliveries/s | p50 ms | p99 ms | gaps | msgs/frame | RSS/conn KiB "
      "| gw µs/frame | gw µs/delivery | µs/frame ÷ floor | µs/delivery ÷ Centrifugo | RSS/conn ÷ Centrifugo | other CPU-s |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for w in ["idle", "light", "dashboard"]:
    meds = {}
    for t in TARGETS:
        rows = load(w, t)
        if rows:
            meds[t] = {k: med(rows, k) for k in ["deliveries_per_sec", "latency_p50_ms", "latency_p99_ms", "gaps",
                       "messages_per_frame", "server_rss_per_conn_bytes", "gateway_cpu_us_per_frame",
                       "gateway_cpu_us_per_delivery", "over_rate", "max_rate_asked", "other_cpu_seconds", "harness_fed_per_sec"]}
            meds[t]["runs"] = len(rows)
    fl, cf = meds.get("floor", {}), meds.get("centrifugo", {})
    for t, m in meds.items():
        rss = m["server_rss_per_conn_bytes"]
        print(f"| {w} | {t} | {m['runs']} | {fmt(m['deliveries_per_sec'], 0)} | {fmt(m['latency_p50_ms'], 1)} "
              f"| {fmt(m['latency_p99_ms'], 1)} | {fmt(m['gaps'], 0)} | {fmt(m['messages_per_frame'], 2)} "
              f"| {fmt(rss and rss / 1024, 1)} | {fmt(m['gateway_cpu_us_per_frame'], 2)} "
              f"| {fmt(m['gateway_cpu_us_per_delivery'], 2)} "
              f"| {ratio(m['gateway_cpu_us_per_frame'], fl.get('gateway_cpu_us_per_frame'))} "
              f"| {ratio(m['gateway_cpu_us_per_delivery'], cf.get('gateway_cpu_us_per_delivery'))} "
              f"| {ratio(rss, cf.get('server_rss_per_conn_bytes'))} | {fmt(m['other_cpu_seconds'], 1)} |")
        if w == "dashboard" and m.get("max_rate_asked"):
            print(f"|  | (max_rate {m['max_rate_asked']:g}/s: median {fmt(m['over_rate'], 0)} client symbols over it) | | | | | | | | | | | | | |")

sweeps = {}
for t in TARGETS:
    runs = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(d, f"sweep-[0-9]*-{t}.json")))]
    if runs:
        sweeps[t] = runs
if sweeps:
    print("\n| sweep (find-max, p99 ≤ 50 ms, 0 gaps) | runs | max deliveries/s, median | each run | ÷ Centrifugo "
          "| gw µs/frame at it | gw µs/delivery at it | µs/delivery ÷ Centrifugo |")
    print("|---|---|---|---|---|---|---|---|")
    best = {t: statistics.median(r["max_deliveries_per_sec"] for r in runs) for t, runs in sweeps.items()}
    def at_best(t, key):
        vals = [r["best"][key] for r in sweeps[t] if r.get("best") and r["best"].get(key) is not None]
        return statistics.median(vals) if vals else None
    for t, runs in sweeps.items():
        each = ", ".join(f"{r['max_deliveries_per_sec']:,.0f}" for r in runs)
        print(f"| {t} | {len(runs)} | {best[t]:,.0f} | {each} | {ratio(best[t], best.get('centrifugo'))} "
              f"| {fmt(at_best(t, 'gateway_cpu_us_per_frame'), 2)} | {fmt(at_best(t, 'gateway_cpu_us_per_delivery'), 2)} "
              f"| {ratio(at_best(t, 'gateway_cpu_us_per_delivery'), at_best('centrifugo', 'gateway_cpu_us_per_delivery') if 'centrifugo' in sweeps else None)} |")

# bars (issue 9): tickgate only; its cost beside the tick workloads of the
# same run (light: ~100,000 tick deliveries/s; dashboard), as ratios.
BAR_KEYS = ["deliveries_per_sec", "frames_per_sec", "messages_per_frame", "latency_p50_ms", "latency_p99_ms",
            "gaps", "gateway_cpu_per_sec", "gateway_cpu_us_per_delivery", "gateway_cpu_us_per_frame",
            "server_rss_bytes", "server_rss_per_conn_bytes", "other_cpu_seconds", "server_cpu_seconds", "duration_s"]
bars = load("bars", "tickgate")
if bars:
    print("\n| workload (tickgate) | runs | deliveries/s | frames/s | msgs/frame | p50 ms | p99 ms | gaps "
          "| gw CPU-s per s | gw µs/delivery | gw µs/frame | RSS MB | RSS/conn KiB | other CPU-s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = {}
    for w in ["bars", "light", "dashboard"]:
        runs = load(w, "tickgate")
        if not runs:
            continue
        m = {k: med(runs, k) for k in BAR_KEYS}
        if m["gateway_cpu_per_sec"] is None and m["server_cpu_seconds"] is not None:
            m["gateway_cpu_per_sec"] = m["server_cpu_seconds"] / m["duration_s"]  # results from before the field
        rows[w] = m
        rss, rssc = m["server_rss_bytes"], m["server_rss_per_conn_bytes"]
        label = "bars (bars.1s, latency from bar end)" if w == "bars" else w
        print(f"| {label} | {len(runs)} | {fmt(m['deliveries_per_sec'], 0)} | {fmt(m['frames_per_sec'], 0)} "
              f"| {fmt(m['messages_per_frame'], 2)} | {fmt(m['latency_p50_ms'], 1)} | {fmt(m['latency_p99_ms'], 1)} "
              f"| {fmt(m['gaps'], 0)} | {fmt(m['gateway_cpu_per_sec'], 3)} | {fmt(m['gateway_cpu_us_per_delivery'], 2)} "
              f"| {fmt(m['gateway_cpu_us_per_frame'], 2)} | {fmt(rss and rss / 1e6, 1)} | {fmt(rssc and rssc / 1024, 1)} "
              f"| {fmt(m['other_cpu_seconds'], 1)} |")
    b = rows["bars"]
    for w in ["light", "dashboard"]:
        if w in rows:
            r = rows[w]
            print(f"\nbars ÷ {w}: gw CPU-s per s {ratio(b['gateway_cpu_per_sec'], r['gateway_cpu_per_sec'])}, "
                  f"µs/delivery {ratio(b['gateway_cpu_us_per_delivery'], r['gateway_cpu_us_per_delivery'])}, "
                  f"µs/frame {ratio(b['gateway_cpu_us_per_frame'], r['gateway_cpu_us_per_frame'])}, "
                  f"deliveries/s {ratio(b['deliveries_per_sec'], r['deliveries_per_sec'])}")
