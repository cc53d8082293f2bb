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
