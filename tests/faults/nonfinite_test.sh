#!/usr/bin/env bash
# Non-finite guard: rank 1 sees NaN after global step 5 (test hook). Policy SKIP: every rank undoes
# the step, counts and logs it, and trains on with finite losses. Policy STOP: every rank undoes it,
# checkpoints the last good state (step 4, bitwise equal to an uninterrupted 4-step run) and exits 65.
# usage: nonfinite_test.sh MPIRUN FRAMECAST WORKDIR
set -u
mpirun="$1"; fc="$2"; work="$3/nonfinite"
source "$(dirname "$0")/common.sh"
rm -rf "$work"; mkdir -p "$work"
nan=(-x FRAMECAST_TEST_NAN_RANK=1 -x FRAMECAST_TEST_NAN_STEP=5)

"$mpirun" --oversubscribe -np 2 "${nan[@]}" "$fc" train "${FC_TINY[@]}" --set stages[0].steps=10 \
  --set dist.nonfinite=NONFINITE_SKIP --set output_dir="$work/skip" >"$work/skip.log" 2>&1
rc=$?
grep -E "non-finite|skipped" "$work/skip.log"
[ "$rc" -eq 0 ] || { echo "FAIL skip: exit status $rc"; tail "$work/skip.log"; exit 1; }
[ "$(grep -c 'non-finite loss or parameters after global step 5 on rank(s) 1; the step is undone' "$work/skip.log")" -ge 1 ] ||
  { echo "FAIL skip: the step was not reported"; exit 1; }
grep -q 'skipped global step 5 (1 skipped so far)' "$work/skip.log" || { echo "FAIL skip: not counted"; exit 1; }
! grep -q '(2 skipped so far)' "$work/skip.log" || { echo "FAIL skip: more than one step skipped (state not restored?)"; exit 1; }
grep -qE 'step 10/10 \(global 10\) loss [0-9]' "$work/skip.log" || { echo "FAIL skip: final loss not finite"; exit 1; }

"$mpirun" --oversubscribe -np 2 "${nan[@]}" "$fc" train "${FC_TINY[@]}" --set stages[0].steps=10 \
  --set output_dir="$work/stop" >"$work/stop.log" 2>&1
rc=$?
grep -E "non-finite" "$work/stop.log"
[ "$rc" -eq 65 ] || { echo "FAIL stop: exit status $rc, expected 65"; tail "$work/stop.log"; exit 1; }
last="$(newest_step "$work/stop")"
[ "$(basename "$last")" = step-00000004 ] || { echo "FAIL stop: newest checkpoint $last, expected step-00000004"; exit 1; }
"$fc" ckpt verify "$last" || { echo "FAIL stop: checkpoint does not verify"; exit 1; }
"$mpirun" --oversubscribe -np 2 "$fc" train "${FC_TINY[@]}" --set stages[0].steps=4 --set output_dir="$work/ref" >"$work/ref.log" 2>&1 ||
  { echo "FAIL: reference run"; exit 1; }
diff <(state_digest "$fc" "$last") <(state_digest "$fc" "$work/ref/checkpoints/step-00000004") ||
  { echo "FAIL stop: the checkpoint is not the last good state"; exit 1; }
echo "PASS: SKIP undid and counted step 5; STOP checkpointed the last good state (step 4) and exited 65"
