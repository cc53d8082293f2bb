#!/usr/bin/env bash
# Crash safety: kill -9 a 2-rank training job at random moments while it checkpoints every step,
# TRIALS times. After every kill, the newest committed step must verify, and the next run must
# resume from exactly that step (never from an uncommitted one).
# usage: crash_test.sh MPIRUN FRAMECAST WORKDIR [TRIALS]
set -u
mpirun="$1"; fc="$2"; work="$3"; trials="${4:-20}"
run="$work/crash-run"
rm -rf "$run"; mkdir -p "$work"
common=(--set output_dir="$run" --set checkpoint.every_steps=1 --set checkpoint.keep_last=2
        --set model.demo.width=48 --set data.procedural_blobs.image_size=16 --set logging.every_steps=50)
fail=0
for t in $(seq 1 "$trials"); do
  "$mpirun" --oversubscribe -np 2 "$fc" train "${common[@]}" --set stages[0].steps=100000 >"$work/crash-$t.log" 2>&1 &
  job=$!
  sleep "$(awk -v s="$RANDOM" 'BEGIN { srand(s); printf "%.2f", 1.0 + rand() * 1.5 }')"
  pkill -9 -f -- "output_dir=$run" ; wait "$job" 2>/dev/null
  newest="$(ls -d "$run"/checkpoints/step-* 2>/dev/null | while read -r d; do [ -f "$d/MANIFEST.pb" ] && echo "$d"; done | sort | tail -n1)"
  if [ -z "$newest" ]; then echo "trial $t: no committed step yet"; continue; fi
  if ! "$fc" ckpt verify "$newest" >/dev/null 2>"$work/verify.err"; then
    echo "FAIL trial $t: newest committed step $newest does not verify: $(cat "$work/verify.err")"; fail=1; continue
  fi
  step=$((10#${newest##*step-}))
  out="$("$mpirun" --oversubscribe -np 2 "$fc" train "${common[@]}" --set stages[0].steps=$((step + 1)) 2>&1)"
  if ! grep -q "resumed from $newest " <<<"$out"; then
    echo "FAIL trial $t: did not resume from $newest:"; echo "$out" | tail -5; fail=1; continue
  fi
  echo "trial $t: killed; newest committed $(basename "$newest") verifies; resumed from it"
done
rm -rf "$run"
[ "$fail" -eq 0 ] && echo "PASS: $trials kill -9 trials" || exit 1
