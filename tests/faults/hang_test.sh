#!/usr/bin/env bash
# One rank's gradient collective is never posted (test hook FRAMECAST_TEST_HANG_RANK=2): every
# rank's watchdog fires, the report names the gradient bucket and rank 2, and all exit 69.
# usage: hang_test.sh MPIRUN FRAMECAST WORKDIR
set -u
mpirun="$1"; fc="$2"; work="$3/hang"
rm -rf "$work"; mkdir -p "$work"
source "$(dirname "$0")/common.sh"
timeout 90 "$mpirun" --oversubscribe --enable-recovery -np 3 -x FC_STATUS_FILE="$work/status" -x FRAMECAST_TEST_HANG_RANK=2 -x FRAMECAST_TEST_HANG_AFTER=4 \
  bash "$(dirname "$0")/rank_status.sh" "$fc" train "${FC_TINY[@]}" --set data.global_batch=24 --set output_dir="$work/run" --set stages[0].steps=1000 \
  --set dist.step_timeout_s=3 >"$work/log" 2>&1
rc=$?
grep 'watchdog' "$work/log"
[ "$rc" -ne 124 ] || { echo "FAIL: hung (no exit within 90 s)"; exit 1; }
cat "$work/status"
[ "$(grep -c 'status 69$' "$work/status")" -eq 3 ] || { echo "FAIL: expected every rank to exit 69 (watchdog)"; exit 1; }
n="$(grep -cE 'watchdog: rank [01] waited [0-9.]+ s \(deadline 3.0 s\) in collective #[0-9]+ \(mpi all-reduce \(gradient bucket 0 of [a-z]+\).*waiting for rank 2 \(has not entered it' "$work/log")"
[ "$n" -eq 2 ] || { echo "FAIL: expected ranks 0 and 1 to name the bucket and rank 2, saw $n"; exit 1; }
grep -qE 'watchdog: rank 2 .*test hook: never posted' "$work/log" || { echo "FAIL: rank 2's own watchdog did not fire"; exit 1; }
echo "PASS: the hung collective was named by every rank and all 3 exited 69"
