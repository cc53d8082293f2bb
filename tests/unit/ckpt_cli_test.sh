#!/usr/bin/env bash
# `framecast ckpt` on a real run: list, inspect, verify (0 on a good step, non-zero on a damaged
# one, naming file and tensor), export to a file that Python's torch.load opens with the same values.
# usage: ckpt_cli_test.sh FRAMECAST WORKDIR PYTHON
set -u
fc="$1"; work="$2"; py="$3"
run="$work/ckpt-cli-run"
rm -rf "$run"
"$fc" train --set output_dir="$run" --set stages[0].steps=3 --set checkpoint.every_steps=1 >/dev/null 2>&1 ||
  { echo "FAIL: training"; exit 1; }
fail=0
"$fc" ckpt list "$run" | grep -q "step-00000003" || { echo "FAIL: ckpt list"; fail=1; }
"$fc" ckpt inspect "$run/checkpoints/step-00000003" | grep -q "model/demo/conv1.weight" || { echo "FAIL: ckpt inspect"; fail=1; }
"$fc" ckpt verify "$run/checkpoints/step-00000003" || { echo "FAIL: verify of a good step"; fail=1; }
"$fc" ckpt export "$run/checkpoints/step-00000003" "$work/ckpt-cli.pt" || { echo "FAIL: export"; fail=1; }
"$py" - "$work/ckpt-cli.pt" <<'PY' || fail=1
import sys, torch
sd = torch.load(sys.argv[1])
w = sd["demo/conv1.weight"]
assert tuple(w.shape) == (16, 3, 3, 3) and w.dtype == torch.float32, (w.shape, w.dtype)
assert "demo/bn1.running_mean" in sd
print(f"ok: torch.load read {len(sd)} tensors")
PY
# Damage: flip one byte inside the first tensor of shard 0.
shard="$run/checkpoints/step-00000003/shard-00000-of-00001.bin"
printf '\x5a' | dd of="$shard" bs=1 seek=100 conv=notrunc 2>/dev/null
out="$("$fc" ckpt verify "$run/checkpoints/step-00000003" 2>&1)"; rc=$?
echo "$out"
[ "$rc" -ne 0 ] || { echo "FAIL: verify accepted a damaged step"; fail=1; }
grep -q "shard-00000-of-00001.bin: tensor .* CRC32C mismatch" <<<"$out" || { echo "FAIL: message lacks file/tensor"; fail=1; }
# Resume skips the damaged newest step and uses the previous one.
out="$("$fc" train --set output_dir="$run" --set stages[0].steps=4 2>&1)"
grep -q "resumed from $run/checkpoints/step-00000002" <<<"$out" || { echo "FAIL: did not fall back to step 2"; echo "$out" | head; fail=1; }
rm -rf "$run" "$work/ckpt-cli.pt"
exit $fail
