#!/usr/bin/env bash
# launch/demo.sh as a user runs it (set-up and build are no-ops here), shortened to a few steps per
# stage, then what a person looks at afterwards:
#   - the TensorBoard event files of both demo runs, read with the tensorboard package's
#     EventAccumulator: every metrics.jsonl scalar at its step, and the sample images;
#   - the sample videos (each stage's GIF and MP4, the cascade's samples.gif/.mp4) with ffprobe.
# Usage: demo_test.sh SOURCE_DIR BUILD_DIR WORK_DIR PYTHON. Exit 77 only when tensorboard cannot be
# imported.
set -u
src="$1"; build="$2"; work="$3"; py="$4"; fail=0
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! out="$("$py" -c 'import tensorboard.backend.event_processing.event_accumulator' 2>&1)"; then
  echo "skip: $py cannot import tensorboard (launch/setup.sh installs it): $(tail -n1 <<<"$out")"
  exit 77
fi
bad() { echo "FAIL: $*"; fail=1; }
ok() { echo "ok: $*"; }
rm -rf "$work"
FRAMECAST_BUILD_DIR="$build" FRAMECAST_DEMO_DIR="$work" FRAMECAST_DEMO_STEPS=3 OMP_NUM_THREADS=1 \
  "$src/launch/demo.sh" >"$work.log" 2>&1 || { tail -n 30 "$work.log"; bad "launch/demo.sh exited non-zero"; exit 1; }
ok "launch/demo.sh finished ($(grep -c '' "$work.log") lines of output)"
tail -n 7 "$work.log" | grep -q '^copy-last-frame ' && tail -n 1 "$work.log" | grep -q 'sequences' \
  && ok "the demo ends with the HVRNN evaluation table" || bad "the demo does not end with the evaluation table"

# The cascade has two stages: its tags carry the stage name (level1/loss).
for args in "$work/hvrnn" "$work/cvg --stage-prefix"; do
  # shellcheck disable=SC2086
  "$py" "$here/check_run.py" $args && ok "event files of ${args%% *} hold every metrics.jsonl scalar" \
    || bad "event files of ${args%% *}"
done

# The terms a person watches: per-level KL, active channels and gradient norm (hvrnn); both
# networks' losses and gradient norms per cascade level (cvg); wait times for both.
"$py" - "$work/hvrnn/metrics.jsonl" "$work/cvg/metrics.jsonl" <<'PY' || bad "scalars in metrics.jsonl"
import json, sys
hv = [json.loads(l) for l in open(sys.argv[1])]
cvg = [json.loads(l) for l in open(sys.argv[2])]
for k in ("loss", "kl1", "kl2", "active1", "active2", "grad_norm", "lr", "time/loader_wait_ms"):
    assert k in hv[-1], ("hvrnn", k, hv[-1])
assert [r["stage"] for r in cvg] == ["level1", "level2"], cvg
for r in cvg:
    for k in ("loss_d", "loss_g", "grad_norm_d", "grad_norm_g", "lr_g", "lr_d", "time/grad_sync_wait_ms"):
        assert k in r, ("cvg", k, r)
    assert r["grad_norm_d"] > 0 and r["grad_norm_g"] > 0, r
print("ok: hvrnn and per-level cvg scalars present")
PY
probe() {  # probe FILE: one video stream with at least 2 frames
  local info
  info=$(ffprobe -v error -count_frames -select_streams v:0 \
    -show_entries stream=codec_name,width,height,nb_read_frames -of csv=p=0 "$1" 2>&1)
  if [[ "$info" =~ ^(gif|h264|mpeg4),[0-9]+,[0-9]+,([0-9]+)$ ]] && [ "${BASH_REMATCH[2]}" -ge 2 ]; then
    ok "$(basename "$1"): $info"
  else
    bad "$1: ffprobe says '$info'"
  fi
}
shopt -s nullglob
videos=("$work"/hvrnn/samples/*.gif "$work"/hvrnn/samples/*.mp4 "$work"/cvg/samples/*.gif \
  "$work"/cvg/samples/*.mp4 "$work"/cvg/samples.gif "$work"/cvg/samples.mp4 "$work"/hvrnn/eval/*/samples.gif)
[ "${#videos[@]}" -ge 7 ] || bad "only ${#videos[@]} sample videos: ${videos[*]}"
for f in "${videos[@]}"; do probe "$f"; done
[ -f "$work/cvg/samples.gif" ] && [ -f "$work/cvg/samples.mp4" ] || bad "the cascade's samples.gif/.mp4 are missing"

[ "$fail" -eq 0 ] && echo "demo_test: all checks passed" || echo "demo_test: FAILED"
exit "$fail"
