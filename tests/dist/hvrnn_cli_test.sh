#!/usr/bin/env bash
# The hvrnn family through the command line under mpirun -np 2: `framecast train` on the demo
# config (shortened) writes checkpoints, a second invocation resumes and finishes, `framecast eval`
# prints the table with the baselines and writes the report files; `model summary` counts the
# paper model's parameters; `framecast sample` draws context + prediction; a bad checkpoint path is
# a one-line error.
set -u
mpirun="$1"; fc="$2"; root="$3"; work="$4/hvrnn-cli"
rm -rf "$work"; mkdir -p "$work"
cfg="$root/configs/hvrnn_smmnist_tiny.pbtxt"
small=(--set output_dir="$work/run" --set data.global_batch=4 --set checkpoint.every_steps=2
       --set logging.every_steps=1 --set data.eval_sequences=4)
fail=0
"$mpirun" --oversubscribe -np 2 "$fc" train "$cfg" "${small[@]}" --set stages[0].steps=2 > "$work/a.log" 2>&1 \
  || { echo "FAIL: first train"; cat "$work/a.log"; exit 1; }
grep -q "stage main step 2/2 (global 2) loss" "$work/a.log" || { echo "FAIL: no step line"; cat "$work/a.log"; fail=1; }
"$mpirun" --oversubscribe -np 2 "$fc" train "$cfg" "${small[@]}" --set stages[0].steps=4 > "$work/b.log" 2>&1 \
  || { echo "FAIL: resumed train"; cat "$work/b.log"; exit 1; }
grep -q "resumed from .*step-00000002" "$work/b.log" || { echo "FAIL: did not resume"; cat "$work/b.log"; fail=1; }
grep -q "step 4/4 (global 4)" "$work/b.log" || { echo "FAIL: did not finish"; cat "$work/b.log"; fail=1; }
"$mpirun" --oversubscribe -np 2 "$fc" eval "$cfg" "${small[@]}" --checkpoint "$work/run/checkpoints/step-00000004" \
  --samples 2 > "$work/eval.log" 2>&1 || { echo "FAIL: eval"; cat "$work/eval.log"; exit 1; }
for m in hvrnn copy-last-frame mean-frame; do
  grep -q "^$m " "$work/eval.log" || { echo "FAIL: eval table lacks $m"; cat "$work/eval.log"; fail=1; }
done
for f in table.txt report.json curves.csv curves_psnr.png curves_ssim.png samples.gif; do
  [ -s "$work/run/eval/step-00000004/$f" ] || { echo "FAIL: eval wrote no $f"; fail=1; }
done
if command -v ffprobe >/dev/null; then
  frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
    -of csv=p=0 "$work/run/eval/step-00000004/samples.gif")
  [ "$frames" = "15" ] || { echo "FAIL: samples.gif has '$frames' frames, want 15 (5 context + 10 predicted)"; fail=1; }
fi
# The evaluation is also in the run's TensorBoard folder: means at the step, per-frame curves.
for tag in eval/hvrnn/psnr eval_curve/hvrnn/ssim eval/blur-last-frame/psnr eval/hvrnn/neg_elbo; do
  grep -qaF "$tag" "$work"/run/tb/events.out.tfevents.* || { echo "FAIL: no TensorBoard scalar $tag"; fail=1; }
done
# framecast sample works for HVRNN runs through the family registry: held-out context + prediction.
out=$("$fc" sample "$work/run" --num 2 --out "$work/sample.gif" 2>&1) ||
  { echo "FAIL: hvrnn sample: $out"; fail=1; }
echo "$out" | grep -q "^sampled 2 held-out sequence(s) of 5 context + 10 predicted frames" ||
  { echo "FAIL: hvrnn sample output: $out"; fail=1; }
if command -v ffprobe >/dev/null; then
  frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames \
    -of csv=p=0 "$work/sample.gif")
  [ "$frames" = "15" ] || { echo "FAIL: sample.gif has '$frames' frames, want 15"; fail=1; }
fi
out=$("$fc" model summary "$root/configs/hvrnn_bair_1-8-32.pbtxt" 2>&1)
echo "$out" | grep -qE "^total +240044419 " || { echo "FAIL: model summary"; echo "$out"; fail=1; }
out=$("$mpirun" --oversubscribe -np 1 "$fc" eval "$cfg" "${small[@]}" --checkpoint "$work/nope" 2>&1); rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q "nope" || { echo "FAIL: bad checkpoint path (rc $rc): $out"; fail=1; }
[ $fail -eq 0 ] && echo "ok: hvrnn train, resume, eval and model summary through the CLI"
exit $fail
