#!/usr/bin/env bash
# The srvp family through the command line under mpirun -np 2: `framecast train` on the tiny config
# (shortened) writes checkpoints, a second invocation resumes and finishes with the same losses as
# an uninterrupted run, `framecast eval` prints the table with the baselines and the held-out
# -ELBO and writes the report files (also at the paper's dt/2), `framecast sample` draws context +
# prediction at the training frame rate and at twice it, `model summary` prints every SRVP
# config's modules; bad flags are one-line errors.
set -u
mpirun="$1"; fc="$2"; root="$3"; work="$4/srvp-cli"
rm -rf "$work"; mkdir -p "$work"
cfg="$root/configs/srvp_smmnist_tiny.pbtxt"
small=(--set data.global_batch=4 --set checkpoint.every_steps=2 --set logging.every_steps=1
       --set data.eval_sequences=4)
fail=0
"$mpirun" --oversubscribe -np 2 "$fc" train "$cfg" "${small[@]}" --set output_dir="$work/run" \
  --set stages[0].steps=2 > "$work/a.log" 2>&1 || { echo "FAIL: first train"; cat "$work/a.log"; exit 1; }
grep -q "stage main step 2/2 (global 2) loss .* kl_z .* residual" "$work/a.log" ||
  { echo "FAIL: no step line"; cat "$work/a.log"; fail=1; }
"$mpirun" --oversubscribe -np 2 "$fc" train "$cfg" "${small[@]}" --set output_dir="$work/run" \
  --set stages[0].steps=4 > "$work/b.log" 2>&1 || { echo "FAIL: resumed train"; cat "$work/b.log"; exit 1; }
grep -q "resumed from .*step-00000002" "$work/b.log" || { echo "FAIL: did not resume"; cat "$work/b.log"; fail=1; }
"$mpirun" --oversubscribe -np 2 "$fc" train "$cfg" "${small[@]}" --set output_dir="$work/straight" \
  --set stages[0].steps=4 > "$work/c.log" 2>&1 || { echo "FAIL: straight train"; cat "$work/c.log"; exit 1; }
# The resumed run's losses equal the uninterrupted run's, to the last printed digit of the JSON.
loss() { python3 -c 'import json,sys; print(" ".join(repr(json.loads(l)["loss"]) for l in open(sys.argv[1]) if json.loads(l).get("step") in (3, 4)))' "$1/metrics.jsonl"; }
[ -n "$(loss "$work/run")" ] && [ "$(loss "$work/run")" = "$(loss "$work/straight")" ] ||
  { echo "FAIL: resumed losses '$(loss "$work/run")' != straight '$(loss "$work/straight")'"; fail=1; }
step="$work/run/checkpoints/step-00000004"
"$mpirun" --oversubscribe -np 2 "$fc" eval "$cfg" "${small[@]}" --set output_dir="$work/run" \
  --checkpoint "$step" --samples 2 > "$work/eval.log" 2>&1 || { echo "FAIL: eval"; cat "$work/eval.log"; exit 1; }
for m in srvp copy-last-frame mean-frame blur-last-frame; do
  grep -q "^$m " "$work/eval.log" || { echo "FAIL: eval table lacks $m"; cat "$work/eval.log"; fail=1; }
done
grep -q "srvp held-out -ELBO: .* nats/video" "$work/eval.log" || { echo "FAIL: no ELBO"; cat "$work/eval.log"; fail=1; }
for f in table.txt report.json curves.csv samples.gif; do
  [ -s "$work/run/eval/step-00000004/$f" ] || { echo "FAIL: eval wrote no $f"; fail=1; }
done
"$mpirun" --oversubscribe -np 2 "$fc" eval "$cfg" "${small[@]}" --set output_dir="$work/run" \
  --checkpoint "$step" --samples 2 --euler-steps 2 --no-baselines --out "$work/half" > "$work/half.log" 2>&1 ||
  { echo "FAIL: eval at dt/2"; cat "$work/half.log"; exit 1; }
grep -q "^srvp (euler steps 2) " "$work/half.log" || { echo "FAIL: dt/2 eval row"; cat "$work/half.log"; fail=1; }
frames() { ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$1"; }
out=$("$fc" sample "$work/run" --num 2 --out "$work/sample.gif" 2>&1) || { echo "FAIL: sample: $out"; fail=1; }
echo "$out" | grep -q "^sampled 2 held-out sequence(s) of 5 context + 10 predicted frames" ||
  { echo "FAIL: sample output: $out"; fail=1; }
out=$("$fc" sample "$work/run" --num 2 --euler-steps 2 --out "$work/fast.gif" 2>&1) ||
  { echo "FAIL: sample at dt/2: $out"; fail=1; }
echo "$out" | grep -q "2 Euler steps per frame shown as 2x the frame rate" || { echo "FAIL: dt/2 sample: $out"; fail=1; }
if command -v ffprobe >/dev/null; then
  [ "$(frames "$work/sample.gif")" = "15" ] || { echo "FAIL: sample.gif frames $(frames "$work/sample.gif"), want 15"; fail=1; }
  [ "$(frames "$work/fast.gif")" = "30" ] || { echo "FAIL: fast.gif frames $(frames "$work/fast.gif"), want 30"; fail=1; }
fi
for c in "$root"/configs/srvp_*.pbtxt; do
  out=$("$fc" model summary "$c" 2>&1)
  echo "$out" | grep -qE "^total +[0-9]+ " && echo "$out" | grep -q "^encoder h" ||
    { echo "FAIL: model summary $c"; echo "$out"; fail=1; }
done
out=$("$fc" sample "$work/run" --euler-steps 65 2>&1); rc=$?
[ $rc -eq 2 ] && echo "$out" | grep -q "euler-steps" || { echo "FAIL: --euler-steps 65 (rc $rc): $out"; fail=1; }
out=$("$fc" train "$cfg" --set model.srvp.content_frames=6 --set output_dir="$work/bad" 2>&1); rc=$?
[ $rc -eq 1 ] && echo "$out" | grep -q "model.srvp.content_frames=6" && [ ! -e "$work/bad" ] ||
  { echo "FAIL: content_frames > context (rc $rc): $out"; fail=1; }
out=$("$fc" config check "$cfg" --set model.srvp.dynamics=GRU --set model.srvp.euler_steps=2 2>&1); rc=$?
[ $rc -ne 0 ] && echo "$out" | grep -q "model.srvp.euler_steps=2" || { echo "FAIL: GRU with sub-steps (rc $rc): $out"; fail=1; }
[ $fail -eq 0 ] && echo "ok: srvp train, resume, eval (dt and dt/2), sample and model summary through the CLI"
exit $fail
