# Helpers for the fault tests (sourced). Every wait is bounded; nothing here depends on timing
# beyond "eventually, within a generous limit".

# A tiny demo run: fast on a 2-core CPU, deterministic, resumable bit for bit.
FC_TINY=(--set model.demo.width=8 --set data.procedural_blobs.image_size=16 --set logging.every_steps=1
         --set checkpoint.every_steps=0 --set checkpoint.keep_last=2)

# wait_for_line FILE REGEX SECONDS [PID]: returns 0 once FILE has a line matching REGEX, 1 after
# SECONDS or when PID (if given) has exited without it.
wait_for_line() {
  local file="$1" re="$2" limit="$3" pid="${4:-}" i
  for ((i = 0; i < limit * 10; i++)); do
    grep -qE "$re" "$file" 2>/dev/null && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then grep -qE "$re" "$file" 2>/dev/null; return; fi
    sleep 0.1
  done
  return 1
}

# The highest "global N" a log has printed (0 if none).
last_global_step() { grep -oE '\(global [0-9]+\)' "$1" 2>/dev/null | tr -dc '0-9\n' | sort -n | tail -n1 | sed 's/^$/0/'; }

# state_digest FRAMECAST STEP_DIR: one line per replicated tensor (model and optimizer): name and
# CRC-32C from the manifest. Equal digests mean bitwise-equal parameters.
state_digest() { "$1" ckpt inspect "$2" | awk '$1 ~ /^(model|optim)\// { print $1, $NF }'; }

# The newest committed step directory of a run directory.
newest_step() {
  ls -d "$1"/checkpoints/step-* 2>/dev/null | while read -r d; do [ -f "$d/MANIFEST.pb" ] && echo "$d"; done | sort | tail -n1
}

# stop_at_step LOG STEP MPIRUN ARGS...: runs `MPIRUN ARGS...` (an mpirun command line whose
# training ranks pass the test hook FRAMECAST_TEST_HOLD_STEPS) with output to LOG, waits until
# both ranks hold after global step STEP, sends SIGUSR1 to mpirun and checks the run exits 75
# (checkpointed, requeue). Prints FAIL and returns 1 otherwise. 2 ranks.
stop_at_step() {
  local log="$1" hold="$2" mpirun="$3" i rc job; shift 3
  : >"$log"  # exists before the first count
  "$mpirun" -x FRAMECAST_TEST_HOLD_STEPS="$hold" "$@" >"$log" 2>&1 &
  job=$!
  for ((i = 0; i < 1800; i++)); do
    [ "$(grep -c "test hook: holding after global step $hold " "$log")" -ge 2 ] && break
    kill -0 "$job" 2>/dev/null || break; sleep 0.1
  done
  if [ "$(grep -c "test hook: holding after global step $hold " "$log")" -ne 2 ]; then
    echo "FAIL: the ranks did not reach global step $hold"; tail -20 "$log"; kill "$job"; return 1
  fi
  kill -USR1 "$job"
  wait "$job"; rc=$?
  [ "$rc" -eq 75 ] || { echo "FAIL: stopped run exit status $rc, expected 75"; tail -20 "$log"; return 1; }
}
