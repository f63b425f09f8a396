#!/usr/bin/env bash
# The side-by-side table of docs/performance.md: tickgate vs the floor vs
# Centrifugo vs the naive baseline, medians of REPS runs, for idle, sweep
# (find-max), light, dashboard and bars (the last two tickgate only), with
# bars' cost beside light's and dashboard's. JSON and the log go to
# bench/out/compare-RUN/ (ignored by git: a run a doc cites is copied into
# bench/results/ by hand); the table to its summary.md. Loopback only.
#
#   bash bench/compare.sh [DURATION] [REPS]        # defaults: 8s, 3
#   PIN=1 bash bench/compare.sh                    # server and harness on disjoint CPUs
#   SWEEP_REPS=1 WORKLOADS="idle light" TARGETS="tickgate floor" bash bench/compare.sh
#   GATEWAY_BIN=/path/to/gateway bash bench/compare.sh   # measure another tickgate build
#
# tickgate and the floor read the harness's seeded feed over NATS
# (-feed nats); Centrifugo gets the same feed through its HTTP batch API;
# the baseline runs the same simulated feed in-process (it has no NATS).
# Centrifugo comes from PATH or $CENTRIFUGO; without it its rows are
# skipped with a note:
#   go install github.com/centrifugal/centrifugo/v6@v6.9.1
set -euo pipefail
cd "$(dirname "$0")/.."
dur=${1:-8s}
reps=${2:-3}
sweep_reps=${SWEEP_REPS:-$reps}
workloads=${WORKLOADS:-idle sweep light dashboard bars}
targets=${TARGETS:-tickgate floor centrifugo baseline}
out=bench/out/compare-$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out"
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
if [ -n "${GATEWAY_BIN:-}" ]; then cp "$GATEWAY_BIN" "$bin/gateway"; else go build -o "$bin/gateway" ./cmd/gateway; fi
go build -o "$bin/baseline" ./bench/baseline
go build -o "$bin/floor" ./bench/floor
go build -o "$bin/bench" ./bench
cf=${CENTRIFUGO:-$(command -v centrifugo || true)}
pin=(); [ -n "${PIN:-}" ] && pin=(-pin)

run() { # name target extra-flags...
  local name=$1 target=$2; shift 2
  local args=(-spawn -target "$target" -duration "$dur" "${pin[@]}" -out "$out/$name-$target.json")
  case $target in
    tickgate) args+=(-gateway-bin "$bin/gateway" -feed nats) ;;
    floor) args+=(-gateway-bin "$bin/floor" -feed nats) ;;
    baseline) args+=(-gateway-bin "$bin/baseline") ;;
    centrifugo)
      if [ -z "$cf" ]; then echo "== $name centrifugo: skipped, no centrifugo binary" | tee -a "$out/log.txt"; return; fi
      args+=(-centrifugo "$cf") ;;
  esac
  echo "== $name $target ${args[*]} $*" | tee -a "$out/log.txt"
  "$bin/bench" "${args[@]}" "$@" 2>&1 | tee -a "$out/log.txt" \
    | grep -E '^(deliveries/s|latency ms|bar latency ms|gaps|gateway CPU|max passing|rate )' || true
}

for w in $workloads; do
  for t in $targets; do
    case $w in
      sweep) for i in $(seq 1 "$sweep_reps"); do run "sweep-$i" "$t" -workload sweep -find-max -rate 15 -refine 2; done ;;
      dashboard)
        # Only tickgate has a per-subscription max_rate; the others would be
        # sent every tick of the 20 hottest symbols (~14M deliveries/s asked).
        [ "$t" = tickgate ] || { echo "== dashboard $t: not run, no per-subscription max_rate" | tee -a "$out/log.txt"; continue; }
        for i in $(seq 1 "$reps"); do run "dashboard-$i" "$t" -workload dashboard; done ;;
      bars)
        # Only tickgate computes bars.
        [ "$t" = tickgate ] || { echo "== bars $t: not run, no bars" | tee -a "$out/log.txt"; continue; }
        for i in $(seq 1 "$reps"); do run "bars-$i" "$t" -workload bars; done ;;
      *) for i in $(seq 1 "$reps"); do run "$w-$i" "$t" -workload "$w"; done ;;
    esac
  done
done
python3 bench/compare.py "$out" | tee "$out/summary.md"
