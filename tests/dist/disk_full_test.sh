#!/usr/bin/env bash
# Disk full: train with checkpoints on a 400 KiB tmpfs until a save cannot be written. The run must
# stop with a clear error (exit non-zero, "No space left on device"), and every step committed
# before it must still verify. Needs root to mount the tmpfs; skipped (exit 77) otherwise.
# usage: disk_full_test.sh MPIRUN FRAMECAST WORKDIR
set -u
mpirun="$1"; fc="$2"; work="$3"
mnt="$work/small-disk"
mkdir -p "$mnt"
if ! mount -t tmpfs -o size=400k tmpfs "$mnt" 2>/dev/null; then
  echo "SKIP: cannot mount a small tmpfs here (needs root)"; exit 77
fi
trap 'umount "$mnt" 2>/dev/null' EXIT
out="$(timeout 300 "$mpirun" --oversubscribe -np 2 "$fc" train --set output_dir="$mnt/run" \
  --set stages[0].steps=40 --set checkpoint.every_steps=1 --set checkpoint.keep_last=100 2>&1)"
rc=$?
echo "$out" | grep -E "error|warning" | head -5
[ "$rc" -ne 0 ] || { echo "FAIL: the run did not fail on a full disk"; exit 1; }
[ "$rc" -ne 124 ] || { echo "FAIL: the run hung on a full disk"; exit 1; }
grep -q "No space left on device" <<<"$out" || { echo "FAIL: no 'No space left on device' in the error"; exit 1; }
n=0
for d in "$mnt"/run/checkpoints/step-*; do
  [ -f "$d/MANIFEST.pb" ] || continue
  "$fc" ckpt verify "$d" >/dev/null || { echo "FAIL: committed $d no longer verifies"; exit 1; }
  n=$((n + 1))
done
[ "$n" -ge 1 ] || { echo "FAIL: no step was committed before the disk filled"; exit 1; }
echo "PASS: stopped with a clear error; all $n committed steps still verify"
