#!/usr/bin/env bash
# Evaluation during training (eval.every_steps) and early stopping (eval.early_stopping) through
# the command line on 2 ranks:
#   1. the tiny HVRNN evaluates every 3 steps; with an unreachable min_delta and patience 2 it stops
#      at step 9 of 20 and (restore_best) ends with bitwise the state of step 3, its best; the
#      evaluations are in metrics.jsonl, the manifest says "stopped early";
#   2. the same run stopped by a signal at global step 4 and resumed evaluates the same numbers,
#      stops at the same step and ends with the same state (the best state is in the checkpoint);
#      a third start finds the run complete;
#   3. the tiny cascade stops level 1 early on FID and the coordinator trains level 2; `framecast
#      sample` then uses both levels;
#   4. config errors: a family without evaluation, an unknown metric, early stopping without
#      evaluation, a bad patience: one line naming the field, non-zero exit.
# usage: eval_training_test.sh MPIRUN FRAMECAST SOURCE_DIR WORKDIR
set -u
mpirun="$1"; fc="$2"; root="$3"; work="$4/eval-training"
source "$root/tests/faults/common.sh"  # stop_at_step, state_digest
rm -rf "$work"; mkdir -p "$work"
step_dir() { printf '%s/checkpoints/step-%08d' "$1" "$2"; }
fail=0

# ---- 1. HVRNN: early stopping with restore_best ---------------------------------------------------
cfg="$root/configs/hvrnn_smmnist_tiny.pbtxt"
args=(--set stages[0].steps=20 --set data.global_batch=4 --set data.eval_sequences=6
      --set data.loader_threads=1 --set logging.every_steps=5 --set checkpoint.every_steps=3
      --set checkpoint.keep_last=10 --set eval.every_steps=3 --set eval.sequences_during_training=5
      --set eval.samples_during_training=2 --set eval.early_stopping.metric=psnr
      --set eval.early_stopping.patience=2 --set eval.early_stopping.min_delta=1000
      --set eval.early_stopping.restore_best=true)
"$mpirun" --oversubscribe -np 2 "$fc" train "$cfg" "${args[@]}" --set output_dir="$work/ref" >"$work/ref.log" 2>&1 ||
  { echo "FAIL: hvrnn run"; tail -20 "$work/ref.log"; exit 1; }
grep -q "early stopping: main ends at step 9 of 20" "$work/ref.log" ||
  { echo "FAIL: no early stop at step 9"; grep "eval main" "$work/ref.log"; fail=1; }
grep -q "main: restored the state of step 3 (best psnr)" "$work/ref.log" ||
  { echo "FAIL: best state not restored"; fail=1; }
[ -d "$(step_dir "$work/ref" 10)" ] && { echo "FAIL: trained past the early stop"; fail=1; }
diff <(state_digest "$fc" "$(step_dir "$work/ref" 3)") <(state_digest "$fc" "$(step_dir "$work/ref" 9)") >/dev/null ||
  { echo "FAIL: the final state is not the best evaluation's (step 3)"; fail=1; }
"$fc" ckpt inspect "$(step_dir "$work/ref" 9)" | grep -qE "stage main +DONE +9 steps done \(stopped early\); best evaluation .* at step 3, 2 since" ||
  { echo "FAIL: manifest does not record the early stop"; "$fc" ckpt inspect "$(step_dir "$work/ref" 9)" | head -4; fail=1; }
evals=$(grep -c '"eval/psnr"' "$work/ref/metrics.jsonl")
[ "$evals" -eq 3 ] || { echo "FAIL: $evals evaluations in metrics.jsonl, want 3 (steps 3, 6, 9)"; fail=1; }
for k in eval/ssim eval/nelbo eval/nelbo_bpd; do
  grep -q "\"$k\"" "$work/ref/metrics.jsonl" || { echo "FAIL: no $k in metrics.jsonl"; fail=1; }
done

# ---- 2. the same run stopped at global step 4 and resumed ------------------------------------------
log="$work/run-1.log"; hold=4
stop_at_step "$log" "$hold" "$mpirun" --oversubscribe -np 2 \
  "$fc" train "$cfg" "${args[@]}" --set output_dir="$work/run" || exit 1
"$mpirun" --oversubscribe -np 2 "$fc" train "$cfg" "${args[@]}" --set output_dir="$work/run" >"$work/run-2.log" 2>&1 ||
  { echo "FAIL: resumed run"; tail -20 "$work/run-2.log"; exit 1; }
grep -q "resumed from $(step_dir "$work/run" 4)" "$work/run-2.log" || { echo "FAIL: did not resume from step 4"; fail=1; }
evals_of() { grep -oE "eval main step [0-9]+/20:.*" "$@" | sed 's/ (best.*//'; }
diff <(evals_of "$work/ref.log") <(evals_of "$log" "$work/run-2.log" | sed 's/^[^:]*log://') ||
  { echo "FAIL: the resumed run's evaluations differ from the uninterrupted run's"; fail=1; }
grep -q "early stopping: main ends at step 9 of 20" "$work/run-2.log" || { echo "FAIL: resumed run did not stop at 9"; fail=1; }
diff <(state_digest "$fc" "$(step_dir "$work/ref" 9)") <(state_digest "$fc" "$(step_dir "$work/run" 9)") >/dev/null ||
  { echo "FAIL: resumed run's final state differs from the uninterrupted run's"; fail=1; }
"$mpirun" --oversubscribe -np 2 "$fc" train "$cfg" "${args[@]}" --set output_dir="$work/run" >"$work/run-3.log" 2>&1 &&
  grep -q "is already complete" "$work/run-3.log" || { echo "FAIL: third start"; tail -5 "$work/run-3.log"; fail=1; }

# ---- 3. the cascade: level 1 stops early, level 2 trains -----------------------------------------
ccfg="$root/configs/cvg_tiny.pbtxt"
"$fc" eval train-classifier "$ccfg" --out "$work/classifier.pt" --steps 20 --clips 8 >"$work/cls.log" 2>&1 ||
  { echo "FAIL: train-classifier"; tail -5 "$work/cls.log"; exit 1; }
cargs=(--set stages[0].steps=12 --set stages[1].steps=3 --set checkpoint.every_steps=4
       --set data.global_batch=4 --set data.eval_sequences=4 --set logging.every_steps=4
       --set logging.sample_clips=2 --set data.loader_threads=1
       --set model.cvg.levels[0].standing_stat_passes=2 --set model.cvg.levels[1].standing_stat_passes=2
       --set eval.every_steps=4 --set eval.sequences_during_training=6
       --set eval.classifier_torchscript="$work/classifier.pt"
       --set eval.early_stopping.metric=fid --set eval.early_stopping.patience=1
       --set eval.early_stopping.min_delta=1e12)
"$mpirun" --oversubscribe -np 2 "$fc" train "$ccfg" "${cargs[@]}" --set output_dir="$work/cvg" >"$work/cvg.log" 2>&1 ||
  { echo "FAIL: cvg run"; tail -20 "$work/cvg.log"; exit 1; }
grep -q "early stopping: level1 ends at step 8 of 12" "$work/cvg.log" || { echo "FAIL: level 1 did not stop at 8"; grep eval "$work/cvg.log"; fail=1; }
grep -qE "eval level2 step 3/3: fid [0-9.e+]+ inception_score [0-9.e+]+ accuracy [0-9.e+]+" "$work/cvg.log" ||
  { echo "FAIL: no level-2 evaluation"; fail=1; }
grep -q "stage level2 step 3/3 (global 11)" "$work/cvg.log" || { echo "FAIL: level 2 did not train after the early stop"; fail=1; }
"$fc" ckpt inspect "$(step_dir "$work/cvg" 11)" | grep -qE "stage level1 +DONE +8 steps done \(stopped early\)" ||
  { echo "FAIL: level 1 not recorded as stopped early"; "$fc" ckpt inspect "$(step_dir "$work/cvg" 11)" | head -5; fail=1; }
grep -q '"level1/eval/fid"\|"eval/fid"' "$work/cvg/metrics.jsonl" || { echo "FAIL: no eval/fid in metrics.jsonl"; fail=1; }
( cd "$work" && "$fc" sample "$work/cvg" --num 2 --out cvg.gif ) >"$work/sample.log" 2>&1 ||
  { echo "FAIL: sample after an early stop"; cat "$work/sample.log"; fail=1; }
grep -qx "wrote cvg.gif" "$work/sample.log" && [ "$(head -c 6 "$work/cvg.gif")" = "GIF89a" ] ||
  { echo "FAIL: --out cvg.gif is not a GIF alone"; cat "$work/sample.log"; fail=1; }

# ---- 4. config errors ------------------------------------------------------------------------------
expect_error() {  # expect_error WHAT FIELD ARGS...
  local what="$1" field="$2"; shift 2
  local out rc
  out=$("$fc" train "$@" --set output_dir="$work/bad" 2>&1); rc=$?
  if [ $rc -eq 0 ] || ! echo "$out" | grep -q "$field"; then
    echo "FAIL: $what (rc $rc):"; echo "$out" | tail -3; fail=1
  fi
}
expect_error "demo family" "eval.every_steps: the demo family has no evaluation during training" \
  "$root/configs/demo.pbtxt" --set eval.every_steps=2
expect_error "unknown metric" "eval.early_stopping.metric: 'fid' is not one of the hvrnn family's evaluation metrics (psnr, ssim, nelbo, nelbo_bpd)" \
  "$cfg" --set eval.every_steps=2 --set eval.early_stopping.metric=fid
expect_error "early stopping without evaluation" "eval.early_stopping.metric" "$cfg" --set eval.early_stopping.metric=psnr
expect_error "negative patience" "eval.early_stopping.patience" "$cfg" --set eval.every_steps=2 \
  --set eval.early_stopping.metric=psnr --set eval.early_stopping.patience=-1
expect_error "restore_best without metric" "eval.early_stopping.restore_best" "$cfg" --set eval.every_steps=2 \
  --set eval.early_stopping.restore_best=true
expect_error "negative every_steps" "eval.every_steps" "$cfg" --set eval.every_steps=-3
[ -e "$work/bad/checkpoints" ] && { echo "FAIL: a rejected config left a checkpoint directory"; fail=1; }

[ $fail -eq 0 ] && echo "PASS: evaluation during training, early stopping at the same step after a resume, restore_best, a cascade moving on after an early stop, config errors"
exit $fail
