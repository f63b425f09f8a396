#!/usr/bin/env bash
# pair.sh OUTDIR REPS WORKLOAD-ARGS... ; builds in $BUILDS (names of gw-* binaries, plus "floor")
set -u
out=$1; reps=$2; shift 2
mkdir -p "$out"
cd /tmp/perfbins
for i in $(seq 1 "$reps"); do
  for b in $BUILDS; do
    case $b in
      floor) args=(-target floor -feed nats -gateway-bin ./floor) ;;
      centrifugo) args=(-target centrifugo -centrifugo /root/go/bin/centrifugo) ;;
      *) args=(-target tickgate -feed nats -gateway-bin ./gw-$b) ;;
    esac
    echo "== rep $i $b $(date -u +%T) load $(cut -d' ' -f1 /proc/loadavg)"
    ./bench -spawn -pin "${args[@]}" "$@" -out "$out/$b-$i.json" > "$out/$b-$i.log" 2>&1
    grep -E "gateway CPU|^latency ms|other" "$out/$b-$i.log" | tr -s ' ' | head -3
  done
done
