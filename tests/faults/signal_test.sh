#!/usr/bin/env bash
# Stop signals: SIGUSR1 (to mpirun, which forwards it), SIGTERM (to rank 1 only) and SIGINT (to
# rank 0 only) each make every rank agree at the next step boundary, checkpoint and exit 75; the
# next run resumes from that checkpoint; the final parameters equal those of an uninterrupted run.
# The ranks hold at a chosen step boundary until the signal has arrived (test hook
# FRAMECAST_TEST_HOLD_STEPS, train/faults.h), so every stop lands at a known step however fast the
# steps run; a rank that is not signalled is released by a file.
# usage: signal_test.sh MPIRUN FRAMECAST WORKDIR
set -u
mpirun="$1"; fc="$2"; work="$3/signals"
source "$(dirname "$0")/common.sh"
rm -rf "$work"; mkdir -p "$work"
steps=50
args=("${FC_TINY[@]}" --set stages[0].steps=$steps)
"$mpirun" --oversubscribe -np 2 "$fc" train "${args[@]}" --set output_dir="$work/ref" >"$work/ref.log" 2>&1 ||
  { echo "FAIL: reference run"; tail "$work/ref.log"; exit 1; }

rank_pid() {  # rank_pid R: the process id of rank R of the interrupted run
  for p in $(pgrep -f "^$fc train .*output_dir=$work/run"); do
    grep -qz "^OMPI_COMM_WORLD_RANK=$1\$" "/proc/$p/environ" 2>/dev/null && echo "$p"
  done
}
round=0
prev=0
for how in "USR1 mpirun 10" "TERM 1 25" "INT 0 40"; do
  round=$((round + 1)); read -r sig who hold <<<"$how"
  log="$work/run-$round.log"; release="$work/release-$round"
  "$mpirun" --oversubscribe -np 2 -x FRAMECAST_TEST_HOLD_STEPS=$hold -x FRAMECAST_TEST_HOLD_FILE="$release" \
    "$fc" train "${args[@]}" --set output_dir="$work/run" >"$log" 2>&1 &
  job=$!
  # Both ranks wait at global step $hold (bounded: the hook gives up after 300 s, this after 120 s).
  for ((i = 0; i < 1200; i++)); do
    [ "$(grep -c "test hook: holding after global step $hold " "$log")" -ge 2 ] && break
    kill -0 "$job" 2>/dev/null || break; sleep 0.1
  done
  [ "$(grep -c "test hook: holding after global step $hold " "$log")" -eq 2 ] ||
    { echo "FAIL round $round: the ranks did not reach global step $hold"; tail "$log"; kill "$job"; touch "$release"; exit 1; }
  target="$job"; [ "$who" = mpirun ] || target="$(rank_pid "$who")"
  echo "round $round: SIG$sig to $who (pid $target) while every rank holds at global step $hold"
  if [ -z "$target" ] || ! kill -"$sig" "$target"; then
    echo "FAIL round $round: could not signal $who"; touch "$release"; kill "$job"; exit 1
  fi
  # A rank that was not signalled itself goes on at once: the agreement must tell it. (For
  # mpirun every rank gets the forwarded signal, so no file: that proves the forwarding.)
  [ "$who" = mpirun ] || touch "$release"
  wait "$job"; rc=$?
  if [ "$rc" -ne 75 ]; then echo "FAIL round $round (SIG$sig to $who): exit status $rc, expected 75"; tail "$log"; exit 1; fi
  grep -E "stopped on signal|resumed from|released" "$log"
  stop="$(grep -oE 'after checkpointing global step [0-9]+' "$log" | grep -oE '[0-9]+$')"
  [ "$stop" = "$hold" ] || { echo "FAIL round $round: stopped at global step '$stop', expected $hold"; tail "$log"; exit 1; }
  [ -f "$work/run/checkpoints/$(printf 'step-%08d' "$stop")/MANIFEST.pb" ] ||
    { echo "FAIL round $round: no checkpoint of the stop step"; tail "$log"; exit 1; }
  if [ "$round" -gt 1 ] && ! grep -q "resumed from $work/run/checkpoints/$(printf 'step-%08d' "$prev") " "$log"; then
    echo "FAIL round $round: did not resume from global step $prev"; tail "$log"; exit 1
  fi
  echo "round $round: SIG$sig to $who -> every rank stopped at global step $stop with status 75"
  prev="$stop"
done
"$mpirun" --oversubscribe -np 2 "$fc" train "${args[@]}" --set output_dir="$work/run" >"$work/final.log" 2>&1 ||
  { echo "FAIL: final run"; tail "$work/final.log"; exit 1; }
grep -q "resumed from $work/run/checkpoints/$(printf 'step-%08d' "$prev") " "$work/final.log" ||
  { echo "FAIL: the final run did not resume from global step $prev"; exit 1; }
final="$work/run/checkpoints/$(printf 'step-%08d' $steps)"
if ! diff <(state_digest "$fc" "$work/ref/checkpoints/$(printf 'step-%08d' $steps)") <(state_digest "$fc" "$final"); then
  echo "FAIL: parameters after three stops and resumes differ from the uninterrupted run"; exit 1
fi
echo "PASS: three signals, three checkpoints and resumes; final parameters bitwise equal ($(state_digest "$fc" "$final" | wc -l) tensors)"
