#!/usr/bin/env bash
# The slow-link table of docs/performance.md (issue 22): -workload slowlink
# REPS times on each link kind (tbf only; tbf with LOSS dropped each way),
# and the medians of each client's figures. Needs root (network
# namespaces), iproute2 and iptables. JSON goes to bench/out/slowlink-RUN/
# (ignored by git), the table to its summary.md (bench/slowlink.py DIR
# prints it again).
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
python3 bench/slowlink.py "$out" $kinds | tee "$out/summary.md"
