#!/usr/bin/env bash
# Set-up, build, then the main job: the hierarchical VRNN (configs/hvrnn_smmnist_tiny.pbtxt) trained
# data-parallel on 2 MPI ranks on Moving Fashion-MNIST, evaluated best-of-N against the
# copy-last-frame, mean-frame and blur-last-frame baselines. Writes into build/demo-run/ (fresh each time):
#   hvrnn/checkpoints/         sharded checkpoints (resume: rerun the train command below)
#   hvrnn/eval/step-*/         table.txt, report.json, curves.csv, curves_*.png, samples.gif
#   hvrnn/tb/, hvrnn/metrics.jsonl, hvrnn/samples/*.gif|mp4, hvrnn/logs/   (docs/runs.md)
# Then the cascaded video GAN: the tiny two-level class-conditional cascade on Moving
# Fashion-MNIST (configs/cvg_tiny.pbtxt, 8/16x16 -> 16/32x32) trained stage by stage on 2 ranks,
# and full-length samples of the whole cascade from `framecast sample`:
#   cvg/checkpoints/           both levels (resume: rerun the train command below)
#   cvg/samples.mp4, cvg/samples.gif   one sample per class, classes printed
#   cvg/tb/ (tags per level), cvg/metrics.jsonl, cvg/samples/<level>-step*.gif|mp4
#   launch/demo.sh [--set field.path=value ...]   overrides for the HVRNN training config
#   FRAMECAST_DEMO_STEPS=N launch/demo.sh         N steps per stage (a quick look; the test suite)
#   FRAMECAST_DEMO_DIR=DIR launch/demo.sh         write into DIR instead of build/demo-run
set -euo pipefail
here="$(dirname "${BASH_SOURCE[0]}")"
source "$here/env.sh"
"$here/setup.sh"
# The program only: the test binaries are launch/test.sh's.
FRAMECAST_BUILD_TARGET=framecast "$here/build.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
demo="${FRAMECAST_DEMO_DIR:-$FRAMECAST_BUILD_DIR/demo-run}"
rm -rf "$demo"
cfg="$FRAMECAST_ROOT/configs/hvrnn_smmnist_tiny.pbtxt"
hvrnn_steps=() cvg_steps=() cvg_eval=()
if [ -n "${FRAMECAST_DEMO_STEPS:-}" ]; then
  hvrnn_steps=(--set "stages[0].steps=$FRAMECAST_DEMO_STEPS")
  cvg_steps=(--set "stages[0].steps=$FRAMECAST_DEMO_STEPS" --set "stages[1].steps=$FRAMECAST_DEMO_STEPS")
  cvg_eval=(--classifier-steps "$FRAMECAST_DEMO_STEPS")
fi
start=$(date +%s)
"$here/run.sh" -np 2 train "$cfg" --set output_dir="$demo/hvrnn" "${hvrnn_steps[@]}" "$@"
step_dir="$(ls -d "$demo"/hvrnn/checkpoints/step-* | sort | tail -n 1)"
"$here/run.sh" -np 2 eval "$cfg" --checkpoint "$step_dir" --set output_dir="$demo/hvrnn" "$@"
echo "[demo] HVRNN trained and evaluated in $(( $(date +%s) - start )) s after the build"
cvg_start=$(date +%s)
"$here/run.sh" -np 2 train "$FRAMECAST_ROOT/configs/cvg_tiny.pbtxt" --set output_dir="$demo/cvg" "${cvg_steps[@]}"
"$FRAMECAST_BUILD_DIR/framecast" sample "$demo/cvg" --num 10 --columns 5 --out "$demo/cvg/samples.mp4"
# IS / FID / class accuracy by framecast's frame classifier (trained first into cvg/classifier.pt).
cvg_step="$(ls -d "$demo"/cvg/checkpoints/step-* | sort | tail -n 1)"
"$here/run.sh" -np 2 eval "$FRAMECAST_ROOT/configs/cvg_tiny.pbtxt" --checkpoint "$cvg_step" \
  --set output_dir="$demo/cvg" "${cvg_steps[@]}" "${cvg_eval[@]}" > "$demo/cvg/eval.log" 2>&1 ||
  { tail -n 20 "$demo/cvg/eval.log"; exit 1; }
echo "[demo] cascade trained (2 stages), sampled and evaluated in $(( $(date +%s) - cvg_start )) s; sample GIF: $demo/cvg/samples.gif"
echo "[demo] CVG sample quality ($demo/cvg/eval/$(basename "$cvg_step")/report.json):"
cat "$demo/cvg/eval/$(basename "$cvg_step")/table.txt"
# Last: the HVRNN evaluation table (model vs copy-last-frame, mean-frame and blur baselines).
echo "[demo] done; HVRNN results in $demo/hvrnn/eval/$(basename "$step_dir")/:"
cat "$demo/hvrnn/eval/$(basename "$step_dir")/table.txt"
