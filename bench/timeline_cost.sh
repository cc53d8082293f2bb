#!/usr/bin/env bash
# What logging.timeline costs: the tiny HVRNN on 2 CPU ranks (mpirun), ROUNDS alternating rounds
# of STEPS steps with the timeline off and on, each run's median ms/step over its logged steps
# after the first 5 (metrics.jsonl's ms_per_step, which excludes checkpoint and evaluation time);
# prints both medians over rounds, the difference, and the timeline's size.
#   ROUNDS=3 STEPS=40 bench/timeline_cost.sh [CONFIG]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/../launch/env.sh"
cfg="${1:-$here/../configs/hvrnn_smmnist_tiny.pbtxt}"
rounds="${ROUNDS:-3}"; steps="${STEPS:-40}"
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_NUM_THREADS=1
median() { python3 -c '
import json, statistics, sys
ms = [json.loads(l).get("ms_per_step") for l in open(sys.argv[1])]
ms = [m for m in ms if m][5:]
print(statistics.median(ms))' "$1"; }
off=(); on=()
for r in $(seq 1 "$rounds"); do
  for mode in off on; do
    run="$work/$mode-$r"
    flag=false; [ "$mode" = on ] && flag=true
    mpirun --oversubscribe -np 2 "$FRAMECAST_BUILD_DIR/framecast" train "$cfg" --set output_dir="$run" \
      --set stages[0].steps="$steps" --set checkpoint.every_steps=0 --set logging.every_steps=1 --set logging.timeline="$flag" \
      > "$work/$mode-$r.log" 2>&1 || { tail -20 "$work/$mode-$r.log"; exit 1; }
    m="$(median "$run/metrics.jsonl")"
    echo "round $r timeline $mode: median $m ms/step"
    if [ "$mode" = on ]; then on+=("$m"); size="$(du -b "$run/timeline/rank0.json" | cut -f1)"; else off+=("$m"); fi
  done
done
python3 - "${off[*]}" "${on[*]}" "$size" "$steps" <<'PY'
import statistics, sys
off = statistics.median(map(float, sys.argv[1].split()))
on = statistics.median(map(float, sys.argv[2].split()))
print(f"RESULT timeline_off_ms_per_step={off:.2f} timeline_on_ms_per_step={on:.2f} "
      f"difference={100 * (on - off) / off:+.2f}% rank0_file_bytes={sys.argv[3]} steps={sys.argv[4]}")
PY
