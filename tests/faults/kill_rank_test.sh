#!/usr/bin/env bash
# kill -9 one of 3 ranks mid-step: the two survivors are blocked in a collective with it; their
# watchdogs fire within the step deadline, name the collective and the dead rank, and exit 69.
# mpirun runs with --enable-recovery so that it does not stop the survivors itself (as with a lost
# node, or srun without --kill-on-bad-exit): the watchdog alone must end them.
# usage: kill_rank_test.sh MPIRUN FRAMECAST WORKDIR
set -u
mpirun="$1"; fc="$2"; work="$3/kill-rank"
source "$(dirname "$0")/common.sh"
rm -rf "$work"; mkdir -p "$work"
deadline=4
"$mpirun" --oversubscribe --enable-recovery -np 3 -x FC_STATUS_FILE="$work/status" bash "$(dirname "$0")/rank_status.sh" "$fc" train "${FC_TINY[@]}" --set data.global_batch=24 --set output_dir="$work/run" \
  --set stages[0].steps=100000 --set dist.step_timeout_s=$deadline >"$work/log" 2>&1 &
job=$!
wait_for_line "$work/log" '\(global 5\)' 120 "$job" || { echo "FAIL: training did not start"; tail -20 "$work/log"; exit 1; }
victim=""
for p in $(pgrep -f "^$fc train .*output_dir=$work/run"); do
  grep -qz '^OMPI_COMM_WORLD_RANK=1$' "/proc/$p/environ" 2>/dev/null && victim="$p"
done
[ -n "$victim" ] || { echo "FAIL: rank 1 not found"; kill "$job"; exit 1; }
kill -9 "$victim"; t0=$(date +%s.%N)
# Bounded wait: the deadline, the report (2 s asking the peers, 2 s answering late ones), slack.
for ((i = 0; i < 300; i++)); do kill -0 "$job" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$job" 2>/dev/null; then
  echo "FAIL: survivors still running 30 s after the kill (deadline ${deadline} s)"; pkill -9 -f "output_dir=$work/run"; exit 1
fi
wait "$job"; rc=$?
elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
cat "$work/log" | grep -E 'watchdog|noticed|exited' | head -10
cat "$work/status"
[ "$(grep -cE '^rank (0|2) status 69$' "$work/status")" -eq 2 ] || { echo "FAIL: expected both survivors to exit 69 (watchdog)"; exit 1; }
n="$(grep -cE 'watchdog: rank (0|2) waited [0-9.]+ s \(deadline 4.0 s\) in collective #[0-9]+ \(mpi [a-z-]+.*waiting for .*rank 1 \(no answer: process dead or unreachable\)' "$work/log")"
[ "$n" -eq 2 ] || { echo "FAIL: expected both survivors to name the collective and rank 1, saw $n"; tail -20 "$work/log"; exit 1; }
echo "PASS: rank 1 killed; both survivors named it and exited 69, ${elapsed} s after the kill (deadline ${deadline} s)"
