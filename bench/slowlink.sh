#!/usr/bin/env bash
# The slow-link table of docs/performance.md (issue 22): -workload slowlink
# REPS times on each link kind (tbf only; tbf with LOSS dropped each way),
# and the medians of each client's figures. Needs root (network
# namespaces), iproute2 and iptables. JSON goes to bench/out/slowlink-RUN/
# (ignored by git), the table to its summary.md.
#
#   sudo bash bench/slowlink.sh [DURATION] [REPS]      # defaults: 60s, 3
#   GATEWAY_BIN=/path/to/gateway bash bench/slowlink.sh 30s 3   # another build
#   LOSS=0.02 KINDS="tbf loss" bash bench/slowlink.sh
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-60s}
reps=${2:-3}
loss=${LOSS:-0.02}
kinds=${KINDS:-tbf loss}
out=bench/out/slowlink-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
if [ -n "${GATEWAY_BIN:-}" ]; then cp "$GATEWAY_BIN" "$bin/gateway"; else go build -o "$bin/gateway" ./cmd/gateway; fi
go build -o "$bin/bench" ./bench
for kind in $kinds; do
  extra=()
  [ "$kind" = loss ] && extra=(-slowlink-loss "$loss")
  for i in $(seq 1 "$reps"); do
    echo "== $kind $i" | tee -a "$out/log.txt"
    "$bin/bench" -workload slowlink -spawn -gateway-bin "$bin/gateway" -duration "$dur" -warmup 5s \
      "${extra[@]}" -out "$out/$kind-$i.json" 2>&1 | tee -a "$out/log.txt" | grep -v '^open http' || true
  done
done
python3 - "$out" $kinds <<'PY' | tee "$out/summary.md"
import glob, json, os, statistics, sys
d, kinds = sys.argv[1], sys.argv[2:]
print("| link | client | runs | bytes/s | tick latency p50 / p99 s | displayed age p50 / p99 s | age p99 / ref's | notices per run |")
print("|---|---|---|---|---|---|---|---|")
for kind in kinds:
    runs = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(d, kind + "-*.json")))]
    if not runs:
        continue
    for name in [c["name"] for c in runs[0]["clients"]]:
        rows = [c for r in runs for c in r["clients"] if c["name"] == name]
        refs = [c for r in runs for c in r["clients"] if c["name"] == "ref *"]
        med = lambda k, rs=rows: statistics.median(c[k] for c in rs)
        ratio = med("age_p99_ms") / med("age_p99_ms", refs)
        notices = " / ".join(",".join(c["notices"]) or "none" for c in rows)
        closed = "; closed: " + " / ".join(c["closed"] for c in rows if c["closed"]) if any(c["closed"] for c in rows) else ""
        print(f"| {kind} | {name} | {len(rows)} | {med('bytes_per_sec')/1e3:,.0f} K | "
              f"{med('latency_p50_ms')/1e3:.2f} / {med('latency_p99_ms')/1e3:.2f} | "
              f"{med('age_p50_ms')/1e3:.2f} / {med('age_p99_ms')/1e3:.2f} | {ratio:.2f}× | {notices}{closed} |")
PY
