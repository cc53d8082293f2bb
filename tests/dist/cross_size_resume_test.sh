#!/usr/bin/env bash
# Resume on another number of ranks, measured against the uninterrupted run (what
# docs/checkpoints.md promises):
#   - on the same number of ranks: bitwise equal (every tensor's CRC);
#   - on another number of ranks, tiny HVRNN with dist.keyed_noise: the same samples and random
#     draws in every step, so the parameters differ only by float summation order: asserted below
#     a relative difference of 1e-4 (norm-wise over all parameters) after the resumed steps, and
#     printed;
#   - without keyed noise the draws depend on the rank count: also printed (not bounded).
# usage: cross_size_resume_test.sh MPIRUN FRAMECAST SOURCE_DIR WORKDIR PYTHON
set -u
mpirun="$1"; fc="$2"; src="$3"; work="$4/cross_size"; py="$5"
rm -rf "$work"; mkdir -p "$work"
cfg="$src/configs/hvrnn_smmnist_tiny.pbtxt"
common=(--set data.global_batch=6 --set checkpoint.every_steps=3 --set logging.every_steps=1
        --set logging.sample_every_steps=0)
fail=0
run() {  # run NP DIR STEPS [extra flags]
  local np="$1" dir="$2" steps="$3"; shift 3
  "$mpirun" --oversubscribe -np "$np" "$fc" train "$cfg" "${common[@]}" --set stages[0].steps="$steps" \
    --set output_dir="$dir" "$@" >>"$dir.log" 2>&1 || { echo "FAIL: $np-rank run of $dir"; tail -5 "$dir.log"; exit 1; }
}
compare() {  # compare A.pt B.pt LABEL -> prints the relative difference
  "$py" - "$1" "$2" "$3" <<'EOF'
import sys, torch
a, b, label = torch.load(sys.argv[1]), torch.load(sys.argv[2]), sys.argv[3]
keys = sorted(k for k in a if not k.startswith("optim") and a[k].is_floating_point())
assert keys and keys == sorted(k for k in b if not k.startswith("optim") and b[k].is_floating_point()), "different tensors"
num = sum(float((a[k].double() - b[k].double()).pow(2).sum()) for k in keys)
den = sum(float(a[k].double().pow(2).sum()) for k in keys)
differ = sum(int(not torch.equal(a[k], b[k])) for k in keys)
print(f"{label}: {differ} of {len(keys)} parameter tensors differ, relative difference {(num / den) ** 0.5:.3e}")
EOF
}
for keyed in true false; do
  flags=(--set dist.keyed_noise=$keyed)
  run 3 "$work/straight-$keyed" 6 "${flags[@]}"
  run 3 "$work/cut-$keyed" 3 "${flags[@]}"
  run 2 "$work/cut-$keyed" 6 "${flags[@]}"
  grep -q "resumed from .*step-00000003 .*written by 3 rank" "$work/cut-$keyed.log" ||
    { echo "FAIL: the 2-rank run did not resume from the 3-rank step 3"; fail=1; }
  for d in straight cut; do "$fc" ckpt export "$work/$d-$keyed/checkpoints/step-00000006" "$work/$d-$keyed.pt" >/dev/null || fail=1; done
  out="$(compare "$work/straight-$keyed.pt" "$work/cut-$keyed.pt" "keyed_noise=$keyed, 3 ranks -> resume on 2")" || { echo "FAIL: compare"; fail=1; }
  echo "$out"
  if [ "$keyed" = true ]; then
    rel="$(grep -oE '[0-9.]+e[-+][0-9]+$' <<<"$out")"
    "$py" -c "import sys; sys.exit(0 if float('$rel') < 1e-4 else 1)" &&
      echo "ok: with keyed noise a resume on another number of ranks stays within float rounding (< 1e-4)" ||
      { echo "FAIL: relative difference $rel >= 1e-4 with keyed noise"; fail=1; }
  fi
done
# The same number of ranks: bitwise.
run 3 "$work/same" 3 --set dist.keyed_noise=true
run 3 "$work/same" 6 --set dist.keyed_noise=true
digest() { "$fc" ckpt inspect "$1" | awk '$1 ~ /^(model|optim)\// { print $1, $NF }'; }
diff <(digest "$work/straight-true/checkpoints/step-00000006") <(digest "$work/same/checkpoints/step-00000006") >/dev/null &&
  echo "ok: resumed on the same number of ranks: bitwise equal" || { echo "FAIL: same-size resume differs"; fail=1; }
exit $fail
