#!/usr/bin/env bash
# Clear start-up errors: a rank count the config cannot use, a GPU config without a GPU, a run
# directory written by a different model config (each exits 1 with a one-line reason), and a rank
# that never arrives at communicator set-up (every rank exits 69 at dist.init_timeout_s). No hang.
# usage: startup_errors_test.sh MPIRUN FRAMECAST WORKDIR
set -u
mpirun="$1"; fc="$2"; work="$3/startup-errors"
source "$(dirname "$0")/common.sh"
rm -rf "$work"; mkdir -p "$work"
expect() {  # expect NAME REGEX COMMAND...: exit status 1 and a line matching REGEX
  local name="$1" re="$2"; shift 2
  timeout 120 "$@" >"$work/$name.log" 2>&1; local rc=$?
  if [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || ! grep -qE "$re" "$work/$name.log"; then
    echo "FAIL $name: status $rc"; tail -5 "$work/$name.log"; exit 1
  fi
  echo "$name: $(grep -m1 -oE "$re" "$work/$name.log" | head -n1)"
}
expect ranks 'global_batch=32: not divisible by ranks \(3\)' \
  "$mpirun" --oversubscribe -np 3 "$fc" train "${FC_TINY[@]}" --set output_dir="$work/a"
if [ -z "$(ls /dev/nvidia[0-9]* 2>/dev/null)" ]; then
  expect gpu 'a CUDA device was requested but no GPU is visible' \
    "$mpirun" -np 1 "$fc" train "${FC_TINY[@]}" --set dist.device=DEVICE_CUDA --set output_dir="$work/b"
else
  echo "gpu: a GPU is visible; the missing-GPU error is not testable here"
fi
"$mpirun" -np 1 "$fc" train "${FC_TINY[@]}" --set stages[0].steps=1 --set output_dir="$work/c" >"$work/c.log" 2>&1 ||
  { echo "FAIL: first run"; exit 1; }
cfg_before="$(find "$work/c" -name config.pbtxt -exec md5sum {} +)"
[ -n "$cfg_before" ] || { echo "FAIL: the first run wrote no config.pbtxt"; exit 1; }
expect model 'was written by a different model config \(model: modified: demo.width: 8 -> 12\)' \
  "$mpirun" -np 1 "$fc" train "${FC_TINY[@]}" --set stages[0].steps=2 --set model.demo.width=12 --set output_dir="$work/c"
[ "$(find "$work/c" -name config.pbtxt -exec md5sum {} +)" = "$cfg_before" ] ||
  { echo "FAIL: the rejected run changed the directory's config.pbtxt"; exit 1; }
# A rank that never arrives at communicator set-up (test hook: rank 1 sleeps 600 s before it):
# every rank gives up at dist.init_timeout_s with exit 69 and a line naming the set-up, no hang.
start=$(date +%s)
timeout 120 "$mpirun" --oversubscribe -np 2 -x FRAMECAST_TEST_SETUP_DELAY_RANK=1 "$fc" train "${FC_TINY[@]}" \
  --set dist.init_timeout_s=4 --set output_dir="$work/d" >"$work/setup.log" 2>&1; rc=$?
took=$(( $(date +%s) - start ))
if [ "$rc" -eq 124 ] || [ "$rc" -eq 0 ] || ! grep -q "communicator set-up did not complete within 4 s" "$work/setup.log" || [ "$took" -gt 60 ]; then
  echo "FAIL setup: status $rc after $took s"; tail -5 "$work/setup.log"; exit 1
fi
echo "setup: exit $rc after $took s: $(grep -m1 -o 'communicator set-up did not complete within 4 s[^;]*' "$work/setup.log")"
echo "PASS: four start-up errors, each named"
