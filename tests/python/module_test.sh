#!/usr/bin/env bash
# python/framecast loads `framecast ckpt export` files and reproduces framecast's forward: for a
# tiny hvrnn, srvp and cvg run (2 training steps each), both export formats load into the PyTorch
# modules with strict names and shapes, and the loss, teacher-forced predictions, generated frames
# (hvrnn, srvp) and every level's generator output (cvg) equal framecast's from the same weights
# and noise (check_forward.py states the tolerance). Truncated and lying safetensors files and a
# .pt export without its config are one-line errors.
set -u
fc="$1"; dump="$2"; root="$3"; work="$4/python-module"; py="${5:-python3}"
"$py" -c "import torch" 2>/dev/null || { echo "SKIP: $py has no torch (launch/setup.sh's venv has it)"; exit 77; }
rm -rf "$work"; mkdir -p "$work"
export PYTHONPATH="$root/python"
fail=0
for name in hvrnn_smmnist_tiny srvp_smmnist_tiny cvg_tiny; do
  run="$work/$name"
  extra=(); [ "$name" = cvg_tiny ] && extra=(--set stages[1].steps=2)  # both levels trained
  "$fc" train "$root/configs/$name.pbtxt" --set output_dir="$run" --set stages[0].steps=2 "${extra[@]}" \
    --set data.global_batch=2 --set checkpoint.every_steps=2 > "$work/$name.train.log" 2>&1 ||
    { echo "FAIL: $name: train"; tail -20 "$work/$name.train.log"; fail=1; continue; }
  step="$(ls -d "$run"/checkpoints/step-* | tail -1)"
  "$fc" ckpt export "$step" "$work/$name.pt" > /dev/null &&
    "$fc" ckpt export "$step" "$work/$name.safetensors" > "$work/$name.export.log" ||
    { echo "FAIL: $name: export"; fail=1; continue; }
  grep -q "safetensors" "$work/$name.export.log" || { echo "FAIL: $name: export did not say safetensors"; fail=1; }
  "$dump" "$step" "$work/$name.dump.pt" || { echo "FAIL: $name: forward dump"; fail=1; continue; }
  "$py" "$root/tests/python/check_forward.py" "$work/$name.dump.pt" "$work/$name.safetensors" \
    "$work/$name.pt" "$run/config.pbtxt" || { echo "FAIL: $name: the Python forward differs"; fail=1; }
done

# Damaged files: a truncated safetensors, a header that lies about the data, a .pt without config.
st="$work/srvp_smmnist_tiny.safetensors"
if [ -s "$st" ]; then
  head -c 100 "$st" > "$work/truncated.safetensors"
  "$py" - "$work" <<'PY' || fail=1
import os, struct, sys
import framecast  # noqa: E402
w = sys.argv[1]
src = open(os.path.join(w, "srvp_smmnist_tiny.safetensors"), "rb").read()
(n,) = struct.unpack("<Q", src[:8])
header = src[8:8 + n].replace(b'"data_offsets":[0,', b'"data_offsets":[1,', 1)
open(os.path.join(w, "lying.safetensors"), "wb").write(src[:8] + header + src[8 + n:])
bad = 0
# Hostile headers that keep the length honest: not JSON, not UTF-8, a list, no data_offsets, a
# negative size; and a FIFO, which must not block.
def with_header(name, text):
    b = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    open(os.path.join(w, name), "wb").write(struct.pack("<Q", len(b)) + b + b"\0" * 16)
with_header("notjson.safetensors", "{nope")
with_header("notutf8.safetensors", b"\xff\xfe{}")
with_header("list.safetensors", "[1, 2]")
with_header("nooffsets.safetensors", '{"a": {"dtype": "F32", "shape": [1]}}')
with_header("negative.safetensors", '{"a": {"dtype": "F32", "shape": [-1, 0], "data_offsets": [0, 0]}}')
os.mkfifo(os.path.join(w, "fifo.safetensors"))
import shutil
shutil.copy(os.path.join(w, "srvp_smmnist_tiny.safetensors"), os.path.join(w, "renamed.pt"))
for f, want in (("truncated.safetensors", "exceeds the file"), ("lying.safetensors", "do not fit"),
                ("srvp_smmnist_tiny.pt", "pass config="), ("notjson.safetensors", "not UTF-8 JSON"),
                ("notutf8.safetensors", "not UTF-8 JSON"), ("list.safetensors", "not a JSON object"),
                ("nooffsets.safetensors", "data_offsets"), ("negative.safetensors", "shape"),
                ("fifo.safetensors", "not a regular file"), ("renamed.pt", "not a torch.load export"),
                ("missing.safetensors", "No such file")):
    try:
        framecast.load(os.path.join(w, f))
        print(f"FAIL: {f} loaded"); bad = 1
    except ValueError as e:
        msg = str(e)
        if want not in msg or "\n" in msg or f not in msg:
            print(f"FAIL: {f}: error {msg!r} lacks {want!r}"); bad = 1
        else:
            print(f"ok: {f}: {msg}")
# A config path that does not exist is an error naming it, not text to parse.
try:
    framecast.load(os.path.join(w, "srvp_smmnist_tiny.pt"), config=os.path.join(w, "nope.pbtx"))
    print("FAIL: a missing config path loaded"); bad = 1
except ValueError as e:
    if "nope.pbtx" in str(e):
        print(f"ok: missing config: {e}")
    else:
        print(f"FAIL: missing config: {e}")
        bad = 1
sys.exit(bad)
PY
fi
# The export refuses an unwritable target with one line and leaves no partial file.
if "$fc" ckpt export "$(ls -d "$work"/srvp_smmnist_tiny/checkpoints/step-* | tail -1)" \
    "$work/no/such/dir/x.safetensors" > "$work/bad.log" 2>&1; then
  echo "FAIL: export into a missing directory succeeded"; fail=1
fi
[ "$(wc -l < "$work/bad.log")" -eq 1 ] || { echo "FAIL: export error is not one line:"; cat "$work/bad.log"; fail=1; }
# An extension that names no format is refused (exit 2), not written as torch.load.
"$fc" ckpt export "$(ls -d "$work"/srvp_smmnist_tiny/checkpoints/step-* | tail -1)" "$work/x.npz" > "$work/ext.log" 2>&1
[ $? -eq 2 ] && [ ! -e "$work/x.npz" ] || { echo "FAIL: export to .npz:"; cat "$work/ext.log"; fail=1; }
[ $fail -eq 0 ] && echo "python module: all checks passed"
exit $fail
