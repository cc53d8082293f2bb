#!/usr/bin/env bash
# The run directory against a second job, dead jobs, damage and planted links:
#   1. a second job on a run directory another job holds is refused (naming the holder's host and
#      pid) and the first finishes untouched; a lock left by a job killed with SIGKILL is taken over;
#   2. when every committed checkpoint is damaged the run refuses to start over, unless
#      checkpoint.fresh_start_if_all_damaged is set;
#   3. links planted in the run directory are never written or deleted through: config.pbtxt, a
#      temporary manifest, a step directory retention would delete, a log file;
#   4. launch/run.sh returns the ranks' 75 when mpirun itself is sent SIGTERM (mpirun returns 1);
#   5. torchrun (the PyTorch launcher, next to PYTHON) starting two one-rank processes is refused
#      by both, and they leave no run directory.
# usage: run_dir_test.sh MPIRUN FRAMECAST WORKDIR [PYTHON]
set -u
mpirun="$1"; fc="$2"; work="$3/run_dir"; py="${4:-}"
here="$(cd "$(dirname "$0")" && pwd)"
source "$here/common.sh"
rm -rf "$work"; mkdir -p "$work"
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }
args=("${FC_TINY[@]}" --set stages[0].steps=12 --set checkpoint.every_steps=4)

# ---- 1. the lock -----------------------------------------------------------------------------
run="$work/locked"
# hold_at LOG STEP PID: until both ranks hold after global step STEP and step 4's checkpoint of
# RUN_DIR (the log's run) is committed.
hold_at() {
  local i
  for ((i = 0; i < 1200; i++)); do
    [ "$(grep -c "test hook: holding after global step $2 " "$1")" -ge 2 ] && [ -n "$(newest_step "$4")" ] && return 0
    kill -0 "$3" 2>/dev/null || break; sleep 0.1
  done
  bad "the ranks did not hold at global step $2 with a checkpoint"; tail -5 "$1"; return 1
}
"$mpirun" --oversubscribe -np 2 -x FRAMECAST_TEST_HOLD_STEPS=6 -x FRAMECAST_TEST_HOLD_FILE="$work/release" \
  "$fc" train "${args[@]}" --set output_dir="$run" >"$work/first.log" 2>&1 &
first=$!
hold_at "$work/first.log" 6 "$first" "$run"
before="$(state_digest "$fc" "$(newest_step "$run")")"
[ -n "$before" ] || bad "no checkpoint digest"
"$mpirun" --oversubscribe -np 2 "$fc" train "${args[@]}" --set output_dir="$run" >"$work/second.log" 2>&1; rc=$?
if [ "$rc" -ne 0 ] && grep -q "in use by another job (host $(hostname) pid [0-9]* since" "$work/second.log"; then
  ok "a second job on a held run directory is refused: $(grep -m1 -o 'in use by another job ([^)]*)' "$work/second.log")"
else
  bad "second job: rc=$rc"; tail -5 "$work/second.log"
fi
[ -n "$before" ] && [ "$(state_digest "$fc" "$(newest_step "$run")")" = "$before" ] && ok "the refused job changed no checkpoint" || bad "the second job changed the checkpoint"
touch "$work/release"
wait "$first"; rc=$?
[ "$rc" -eq 0 ] && grep -q "global 12" "$work/first.log" && ok "the first job finished (12 steps)" || { bad "first job rc=$rc"; tail "$work/first.log"; }
# A job killed with SIGKILL leaves LOCK behind; the kernel released its lock, so the next job runs.
rm -f "$work/release"
"$mpirun" --oversubscribe -np 2 -x FRAMECAST_TEST_HOLD_STEPS=6 -x FRAMECAST_TEST_HOLD_FILE="$work/release" \
  "$fc" train "${args[@]}" --set output_dir="$work/killed" >"$work/killed.log" 2>&1 &
job=$!
hold_at "$work/killed.log" 6 "$job" "$work/killed"
pkill -9 -f "^$fc train .*output_dir=$work/killed" ; wait "$job" 2>/dev/null
[ -f "$work/killed/LOCK" ] && ok "a killed job leaves LOCK: $(head -c 120 "$work/killed/LOCK")" || bad "no LOCK file after the kill"
"$mpirun" --oversubscribe -np 2 "$fc" train "${args[@]}" --set output_dir="$work/killed" >"$work/after-kill.log" 2>&1 &&
  grep -q "resumed from" "$work/after-kill.log" && ok "the next job took over the dead job's lock and resumed" ||
  { bad "run after a killed job"; tail -5 "$work/after-kill.log"; }

# ---- 2. every checkpoint damaged ---------------------------------------------------------------
for d in "$run"/checkpoints/step-*; do
  f="$(ls "$d"/shard-*.bin | head -n1)"
  printf '\x55\xaa' | dd of="$f" bs=1 seek=200 conv=notrunc status=none
done
n="$(ls -d "$run"/checkpoints/step-* | wc -l)"
"$mpirun" --oversubscribe -np 2 "$fc" train "${args[@]}" --set output_dir="$run" >"$work/damaged.log" 2>&1; rc=$?
if [ "$rc" -ne 0 ] && grep -q "all $n committed checkpoint(s) are damaged" "$work/damaged.log" &&
   ! grep -q "resume: fresh start" "$work/damaged.log"; then
  ok "all $n checkpoints damaged: refused ($(grep -m1 -o 'refusing to start again from step 0' "$work/damaged.log"))"
else
  bad "all damaged: rc=$rc"; tail -5 "$work/damaged.log"
fi
"$mpirun" --oversubscribe -np 2 "$fc" train "${args[@]}" --set output_dir="$run" \
  --set checkpoint.fresh_start_if_all_damaged=true >"$work/fresh.log" 2>&1 && grep -q "resume: fresh start" "$work/fresh.log" &&
  ok "checkpoint.fresh_start_if_all_damaged=true starts over" || { bad "explicit fresh start"; tail -5 "$work/fresh.log"; }

# ---- 3. planted links ----------------------------------------------------------------------------
links="$work/links"; outside="$work/outside"
mkdir -p "$links/checkpoints" "$outside"
echo "precious" >"$outside/config"; echo "precious" >"$outside/tmp"
ln -s "$outside/config" "$links/config.pbtxt"
ln -s "$outside/tmp" "$links/config.pbtxt.tmp"
# A step directory retention would delete (older than keep_last), linked to a directory outside.
cp -r "$(newest_step "$work/killed")" "$outside/step"
ln -s "$outside/step" "$links/checkpoints/step-00000001"
"$mpirun" --oversubscribe -np 2 "$fc" train "${args[@]}" --set output_dir="$links" >"$work/links.log" 2>&1; rc=$?
[ "$rc" -eq 0 ] || { bad "run with planted links: rc=$rc"; tail -5 "$work/links.log"; }
[ "$(cat "$outside/config")" = precious ] && [ "$(cat "$outside/tmp")" = precious ] &&
  ok "config.pbtxt and its temporary were replaced, not written through" || bad "a write followed a planted link"
[ -f "$links/config.pbtxt" ] && [ ! -L "$links/config.pbtxt" ] && ok "config.pbtxt is now a regular file" || bad "config.pbtxt"
[ -f "$outside/step/MANIFEST.pb" ] && [ "$(ls "$outside/step" | wc -l)" -ge 2 ] &&
  ok "retention did not delete through a linked step directory" || bad "retention deleted through a link"
grep -q "resumed from" "$work/links.log" && bad "resumed from a linked step directory" || ok "a linked step directory is not a checkpoint"
# A log file linked elsewhere: refused in one line, the target untouched.
logs="$work/logs-link"; mkdir -p "$logs/logs"; echo "precious" >"$outside/log"
ln -s "$outside/log" "$logs/logs/rank0.log"
"$mpirun" --oversubscribe -np 2 "$fc" train "${args[@]}" --set output_dir="$logs" >"$work/logs.log" 2>&1; rc=$?
[ "$rc" -ne 0 ] && grep -q "rank0.log: is a symbolic link" "$work/logs.log" && [ "$(cat "$outside/log")" = precious ] &&
  ok "a linked log file is refused and untouched" || { bad "linked log: rc=$rc"; tail -3 "$work/logs.log"; }

# ---- 4. launch/run.sh under SIGTERM to mpirun ---------------------------------------------------
export FRAMECAST_BUILD_DIR="$(dirname "$fc")"
rm -f "$work/release"
FRAMECAST_TEST_HOLD_STEPS=6 FRAMECAST_TEST_HOLD_FILE="$work/release-term" \
  bash "$here/../../launch/run.sh" -np 2 train "${args[@]}" --set output_dir="$work/term" >"$work/term.log" 2>&1 &
wrapper=$!
hold_at "$work/term.log" 6 "$wrapper" "$work/term"
mp="$(pgrep -P "$wrapper" -x mpirun | head -n1)"
[ -n "$mp" ] && kill -TERM "$mp"
wait "$wrapper"; rc=$?
[ "$rc" -eq 75 ] && ok "launch/run.sh returned 75 after SIGTERM to mpirun" || { bad "launch/run.sh after SIGTERM to mpirun: $rc"; tail -5 "$work/term.log"; }

# ---- 5. torchrun -------------------------------------------------------------------------------
torchrun="$(dirname "${py:-/nonexistent/python}")/torchrun"
if [ -x "$torchrun" ]; then
  "$torchrun" --nproc_per_node=2 --no-python "$fc" train "${args[@]}" --set output_dir="$work/torchrun" \
    >"$work/torchrun.log" 2>&1; rc=$?
  if [ "$rc" -ne 0 ] && [ "$(grep -c 'WORLD_SIZE=2 says this is one of several ranks' "$work/torchrun.log")" -ge 2 ] &&
     [ ! -e "$work/torchrun" ]; then
    ok "torchrun --nproc_per_node=2: both processes refused, no run directory"
  else
    bad "torchrun: rc=$rc"; tail -5 "$work/torchrun.log"
  fi
else
  echo "note: no torchrun next to '$py'; the torchrun case is covered by unit.cli_errors' environment checks"
fi
exit $fail
