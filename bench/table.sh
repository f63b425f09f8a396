#!/usr/bin/env bash
# tickgate against the naive baseline on every workload (fanout, hot, idle,
# light, slow and a find-max), 3 runs each: the first round's table in
# docs/performance-history.md. JSON into bench/out/RUN/ (ignored by git).
# Takes about 25 minutes on the 2-core reference box. Loopback only.
#
#   bash bench/table.sh [DURATION]      # DURATION per run, default 10s
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-10s}
out=bench/out/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/gateway" ./cmd/gateway
go build -o "$bin/baseline" ./bench/baseline
go build -o "$bin/bench" ./bench

run() { # name target extra-flags...
  local name=$1 target=$2; shift 2
  local gw=$bin/gateway; [ "$target" = baseline ] && gw=$bin/baseline
  echo "== $name $target $*" | tee -a "$out/log.txt"
  "$bin/bench" -spawn -target "$target" -gateway-bin "$gw" -duration "$dur" -out "$out/$name-$target.json" "$@" \
    2>&1 | tee -a "$out/log.txt" | grep -E 'deliveries/s|latency ms|server RSS|gaps' || true
}

for t in tickgate baseline; do
  # Sustainable maximum (0 gaps, 0 drops, p99 <= 50 ms): one search.
  run fanout-findmax "$t" -workload fanout -find-max -rate 5
  # Throughput past saturation, at a fixed offered load (~470k deliveries/s).
  for i in 1 2 3; do run "fanout-100-$i" "$t" -workload fanout -rate 100; done
  for i in 1 2 3; do run "hot-$i" "$t" -workload hot; done
  for i in 1 2 3; do run "idle-$i" "$t" -workload idle; done
  for i in 1 2 3; do run "light-$i" "$t" -workload light; done
  # slow: 5% of clients never read, against the same run without them. The
  # rate is fixed at 10 ticks/s (~47k deliveries/s): with no rate passing
  # find-max on this box, "50% of max" has no value to take. A client that
  # never reads is dropped by its queue (4001) or, sooner, for not answering
  # pings; short pings make that happen inside one run.
  for i in 1 2 3; do
    TICKGATE_CLIENT_PING_INTERVAL=2s TICKGATE_CLIENT_PONG_TIMEOUT=2s run "slow-clean-$i" "$t" -workload fanout -rate 10
    TICKGATE_CLIENT_PING_INTERVAL=2s TICKGATE_CLIENT_PONG_TIMEOUT=2s run "slow-$i" "$t" -workload slow -rate 10
  done
done
python3 bench/summarize.py "$out" | tee "$out/summary.md"
