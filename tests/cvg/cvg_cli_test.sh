#!/usr/bin/env bash
# The tiny CVG cascade (configs/cvg_tiny.pbtxt, shortened) through the command line on 2 ranks:
#   1. an uninterrupted run trains both stages;
#   2. a second run is stopped in stage 2 (SIGUSR1 to mpirun while every rank holds at a chosen
#      global step: test hook FRAMECAST_TEST_HOLD_STEPS, train/faults.h), checkpoints and exits 75;
#      rerun, it resumes in stage 2 and finishes with bitwise the final parameters of run 1;
#   3. `framecast sample RUN_DIR --num 4 --out samples.mp4` writes an MP4 (checked with ffprobe)
#      and a GIF next to it and prints the classes; a bad run directory is a one-line error;
#   4. `framecast eval` of the cascade (IS / FID / class accuracy; bad classifier files).
# usage: cvg_cli_test.sh MPIRUN FRAMECAST SOURCE_DIR WORKDIR
set -u
mpirun="$1"; fc="$2"; root="$3"; work="$4/cvg-cli"
source "$root/tests/faults/common.sh"  # stop_at_step, state_digest
rm -rf "$work"; mkdir -p "$work"
cfg="$root/configs/cvg_tiny.pbtxt"
s1=4; s2=6; total=$((s1 + s2)); hold=$((s1 + 3))
args=(--set stages[0].steps=$s1 --set stages[1].steps=$s2 --set checkpoint.every_steps=2
      --set data.global_batch=4 --set data.eval_sequences=4 --set logging.every_steps=1
      --set logging.sample_clips=2 --set data.loader_threads=1
      --set model.cvg.levels[0].standing_stat_passes=2 --set model.cvg.levels[1].standing_stat_passes=2)
fail=0

"$mpirun" --oversubscribe -np 2 "$fc" train "$cfg" "${args[@]}" --set output_dir="$work/ref" >"$work/ref.log" 2>&1 ||
  { echo "FAIL: uninterrupted run"; tail -20 "$work/ref.log"; exit 1; }
grep -q "stage level2 step $s2/$s2 (global $total)" "$work/ref.log" ||
  { echo "FAIL: no final step line"; tail -20 "$work/ref.log"; exit 1; }

log="$work/run-1.log"
stop_at_step "$log" "$hold" "$mpirun" --oversubscribe -np 2 \
  "$fc" train "$cfg" "${args[@]}" --set output_dir="$work/run" || exit 1
grep -q "after checkpointing global step $hold" "$log" || { echo "FAIL: no stop checkpoint"; tail "$log"; fail=1; }

"$mpirun" --oversubscribe -np 2 "$fc" train "$cfg" "${args[@]}" --set output_dir="$work/run" >"$work/run-2.log" 2>&1 ||
  { echo "FAIL: resumed run"; tail -20 "$work/run-2.log"; exit 1; }
grep -q "resumed from .*step-$(printf '%08d' $hold)" "$work/run-2.log" ||
  { echo "FAIL: did not resume from global step $hold"; tail -20 "$work/run-2.log"; fail=1; }
grep -q "stage level1 step" "$work/run-2.log" && { echo "FAIL: the resumed run retrained level 1"; fail=1; }
grep -q "stage level2 step $s2/$s2 (global $total)" "$work/run-2.log" ||
  { echo "FAIL: the resumed run did not finish stage 2"; tail -20 "$work/run-2.log"; fail=1; }
final="$(printf 'step-%08d' $total)"
if ! diff <(state_digest "$fc" "$work/ref/checkpoints/$final") <(state_digest "$fc" "$work/run/checkpoints/$final") >"$work/diff.txt"; then
  echo "FAIL: final parameters after stop + resume differ from the uninterrupted run"; head "$work/diff.txt"; fail=1
fi
n=$(state_digest "$fc" "$work/run/checkpoints/$final" | grep -c "G_unrolled")
[ "$n" -gt 0 ] || { echo "FAIL: no unrolled level-2 generator in the final checkpoint"; fail=1; }

( cd "$work" && "$fc" sample "$work/run" --num 4 --out samples.mp4 ) >"$work/sample.log" 2>&1 ||
  { echo "FAIL: sample"; cat "$work/sample.log"; exit 1; }
[ "$(grep -c "^sample [0-9]: class " "$work/sample.log")" -eq 4 ] || { echo "FAIL: classes not printed"; cat "$work/sample.log"; fail=1; }
[ -s "$work/samples.gif" ] || { echo "FAIL: no samples.gif"; fail=1; }
# +faststart: the MP4's index (moov) precedes its frames (mdat), so browsers stream it.
atoms="$(python3 -c '
import struct, sys
d = open(sys.argv[1], "rb").read(); i = 0; out = []
while i + 8 <= len(d):
    n, t = struct.unpack(">I4s", d[i:i + 8]); out.append(t.decode("latin-1"))
    if n < 8: break
    i += n
print(" ".join(out))' "$work/samples.mp4")"
case "$atoms" in *moov*mdat*) echo "ok: samples.mp4 is faststart ($atoms)" ;; *) echo "FAIL: samples.mp4 atoms '$atoms' (moov after mdat)"; fail=1 ;; esac
if command -v ffprobe >/dev/null; then
  frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
    -of csv=p=0 "$work/samples.mp4")
  [ "$frames" = "16" ] || { echo "FAIL: samples.mp4 has '$frames' frames, want 16"; fail=1; }
else
  [ -s "$work/samples.mp4" ] || { echo "FAIL: no samples.mp4"; fail=1; }
fi
out=$("$fc" sample "$work/nope" --num 2 --out "$work/x.mp4" 2>&1); rc=$?
[ $rc -ne 0 ] && [ "$(echo "$out" | wc -l)" -eq 1 ] && echo "$out" | grep -q "$work/nope" ||
  { echo "FAIL: bad run dir (rc $rc): $out"; fail=1; }
mkdir -p "$work/empty/checkpoints"; cp "$work/run/config.pbtxt" "$work/empty/"
out=$("$fc" sample "$work/empty" --num 2 --out "$work/x.mp4" 2>&1); rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q "$work/empty/checkpoints" ||
  { echo "FAIL: run dir without checkpoint (rc $rc): $out"; fail=1; }
# 4. framecast eval on the cascade: the frame classifier is trained into the run directory first,
#    report.json names IS / FID / class accuracy per row; a bad classifier file is one line naming it.
"$mpirun" --oversubscribe -np 2 "$fc" eval "$cfg" "${args[@]}" --set output_dir="$work/run" \
  --checkpoint "$work/run/checkpoints/$final" --classifier-steps 3 --sequences 4 >"$work/eval.log" 2>&1 ||
  { echo "FAIL: cvg eval"; tail -20 "$work/eval.log"; fail=1; }
rep="$work/run/eval/$final/report.json"
[ -s "$work/run/classifier.pt" ] || { echo "FAIL: no classifier.pt"; fail=1; }
python3 - "$rep" <<'PY' || { echo "FAIL: cvg report.json"; cat "$rep"; fail=1; }
import json, sys
r = json.load(open(sys.argv[1]))
names = [m["name"] for m in r["methods"]]
assert names == ["cvg level 1 (16px)", "cvg levels 1..2 (32px)", "real clips",
                 "real clips at level 1 (16px)",
                 "untrained level 1 (16px)", "untrained levels 1..2 (32px)"], names
for m in r["methods"]:
    assert m["clips"] == 4 and m["inception_score"] >= 1.0 and 0 <= m["class_accuracy"] <= 1, m
    assert (m["fid"] is None) == (m["name"] == "real clips"), m
assert r["protocol"]["classifier_torchscript"].endswith("classifier.pt")
PY
echo "not a torchscript archive" > "$work/bad.pt"
out=$("$mpirun" --oversubscribe -np 2 "$fc" eval "$cfg" "${args[@]}" --set output_dir="$work/run" \
  --set eval.classifier_torchscript="$work/bad.pt" --checkpoint "$work/run/checkpoints/$final" 2>&1); rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q "classifier TorchScript $work/bad.pt" ||
  { echo "FAIL: bad classifier file (rc $rc): $out"; fail=1; }
out=$("$mpirun" --oversubscribe -np 2 "$fc" eval "$cfg" "${args[@]}" --set output_dir="$work/run" \
  --set eval.classifier_torchscript="$work/missing.pt" --checkpoint "$work/run/checkpoints/$final" 2>&1); rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q "$work/missing.pt" ||
  { echo "FAIL: missing classifier file (rc $rc): $out"; fail=1; }
out=$("$fc" eval train-classifier "$cfg" --out "$work/no/such/dir/c.pt" 2>&1); rc=$?
[ $rc -ne 0 ] && [ "$(echo "$out" | wc -l)" -eq 1 ] && echo "$out" | grep -q "$work/no/such/dir" ||
  { echo "FAIL: train-classifier into a missing directory (rc $rc): $out"; fail=1; }
out=$("$fc" model summary "$root/configs/cvg_kinetics600.pbtxt" 2>&1)
echo "$out" | grep -q "level2" || { echo "FAIL: model summary"; echo "$out"; fail=1; }
[ $fail -eq 0 ] && echo "PASS: tiny cascade on 2 ranks, stopped in stage 2, resumed to bitwise-equal final parameters; sample MP4 ($frames frames) and GIF"
exit $fail
