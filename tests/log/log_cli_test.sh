#!/usr/bin/env bash
# What a person watching a run sees, on real runs of `framecast train`:
#   - the start-up banner and the plain (non-terminal) step lines, also in logs/rank0.log;
#   - a resume point in the banner of a second invocation;
#   - metrics.jsonl, and the TensorBoard event files read back by the tensorboard package's
#     EventAccumulator (every scalar at its step) with the TFRecord CRCs checked in Python;
#   - `framecast runs list`;
#   - the progress bar on a pseudo-terminal (script(1));
#   - hvrnn sample videos (GIF, MP4 checked with ffprobe) and their TensorBoard images.
#   - two ranks under mpirun: the banner's layout, one log file per rank.
# Usage: log_cli_test.sh FRAMECAST WORK_DIR PYTHON SOURCE_DIR MPIRUN. Exit 77 only when the
# tensorboard package cannot be imported.
set -u
fc="$1"; work="$2"; py="$3"; src="$4"; mpirun="$5"; fail=0
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! out="$("$py" -c 'import tensorboard.backend.event_processing.event_accumulator' 2>&1)"; then
  echo "skip: $py cannot import tensorboard (launch/setup.sh installs it): $(tail -n1 <<<"$out")"
  exit 77
fi
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
export OMP_NUM_THREADS=1
bad() { echo "FAIL: $*"; fail=1; }
ok() { echo "ok: $*"; }

# ---- 1. banner and step lines (stdout is a file) -------------------------------------------------
run=$work/runs/demo
"$fc" train --set output_dir="$run" --set stages[0].steps=3 >out1.txt 2>&1 || { cat out1.txt; bad "demo run"; }
P='^\[framecast r0/1 [^]]*\] '
grep -Eq "${P}framecast [0-9]+\.[0-9]+\.[0-9]+ \| LibTorch [0-9.]+.* \| MPI .+" out1.txt && ok "versions line" || bad "versions line"
grep -Eq "${P}world: 1 rank\(s\) on 1 host\(s\): [^ ]+ ranks 0, device cpu, backend [a-z]+, launcher singleton" out1.txt \
  && ok "world line" || bad "world line"
grep -Eq "${P}config digest [0-9a-f]{8,}; 1 stage\(s\), 3 step\(s\): main 3;" out1.txt && ok "digest line" || bad "digest line"
grep -Eq "${P}resume: fresh start$" out1.txt && ok "fresh start" || bad "fresh start"
STEP='stage main step ([0-9]+)/([0-9]+) \(global \1\) loss [-0-9.e+]+ .*\| [0-9.]+ ms/step [0-9.e+]+ clips/s ETA [0-9]+:[0-9]{2}:[0-9]{2}$'
n=$(grep -Ec "${P}${STEP}" out1.txt)
[ "$n" -eq 3 ] && ok "3 step lines" || bad "$n step lines, want 3"
grep -q $'\r' out1.txt && bad "carriage returns in non-terminal output" || ok "no progress bar in a file"
for k in 1 2 3; do grep -Eq "${P}stage main step $k/3 \(global $k\) loss" "$run/logs/rank0.log" || bad "rank0.log lacks step $k"; done
[ "$(grep -c 'resume: fresh start' "$run/logs/rank0.log")" -eq 1 ] && ok "rank0.log has the banner and step lines" || bad "rank0.log banner"
[ -d "$run/tb" ] && [ -f "$run/metrics.jsonl" ] && [ -f "$run/config.pbtxt" ] && [ -d "$run/checkpoints" ] \
  && ok "run directory layout" || bad "run directory layout: $(ls "$run")"

# ---- 2. resume: the banner names the resume point -----------------------------------------------
"$fc" train --set output_dir="$run" --set stages[0].steps=5 >out2.txt 2>&1 || { cat out2.txt; bad "resumed run"; }
grep -Eq "${P}resume: $run/checkpoints/step-00000003 \(global step 3, stage main step 3\)$" out2.txt \
  && ok "resume point in the banner" || { grep resume out2.txt; bad "resume point"; }
grep -Eq "${P}stage main step 5/5 \(global 5\) loss" out2.txt && ok "resumed to 5/5" || bad "resumed steps"

# ---- 3. metrics.jsonl and TensorBoard -----------------------------------------------------------
"$py" - "$run/metrics.jsonl" <<'PY' || fail=1
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
steps = [r["step"] for r in rows]
assert steps == [1, 2, 3, 4, 5], steps
for r in rows:
    keys = list(r)
    assert keys[:4] == ["step", "stage", "stage_step", "time"], keys
    assert r["stage"] == "main" and r["stage_step"] == r["step"], r
    assert keys[4] == "loss" and isinstance(r["loss"], float), r
    assert r["ms_per_step"] > 0 and r["clips_per_s"] > 0, r
print("ok: metrics.jsonl has steps 1-5 with loss first and the loop's timing")
PY
"$py" "$here/check_run.py" "$run" --completed || bad "event files of $run"

# ---- 4. runs list -------------------------------------------------------------------------------
"$fc" runs list "$work/runs" >list.txt 2>&1 || bad "runs list exit status"
loss=$("$py" -c 'import json,sys; print("%.6g" % json.loads(open(sys.argv[1]).readlines()[-1])["loss"])' "$run/metrics.jsonl")
head -n1 list.txt | grep -Eq '^NAME +FAMILY +STAGE +STEP +GLOBAL +LAST LOSS +LAST CHECKPOINT +DIR$' && ok "runs list header" || bad "runs list header: $(head -n1 list.txt)"
awk -v l="$loss" -v r="$run" '$1 == "demo" && $2 == "demo" && $3 == "main" && $4 == "5/5" && $5 == "5/5" &&
  $6 == l && $7 == "step-00000005" && $8 == r { found = 1 } END { exit !found }' list.txt \
  && ok "runs list row: loss $loss" || { cat list.txt; bad "runs list row (want loss $loss)"; }
"$fc" runs list "$work/nowhere" >/dev/null 2>&1 && bad "runs list of a missing dir succeeded" || ok "runs list of a missing dir fails"

# ---- 5. progress bar on a terminal --------------------------------------------------------------
if command -v script >/dev/null; then
  script -qec "$fc train --set output_dir=$work/runs/tty --set stages[0].steps=3" /dev/null >tty.txt 2>&1 \
    || { cat tty.txt; bad "run on a pseudo-terminal"; }
  grep -q $'\r\033\[Kmain \[#*-*\] [0-9]*/3 ' tty.txt && ok "progress bar on a terminal" || bad "no progress bar on a terminal"
  grep -Eq "stage main step 3/3 \(global 3\) loss" tty.txt && ok "step lines on a terminal too" || bad "step lines on a terminal"
else
  echo "note: script(1) not installed; progress bar not checked"
fi

# ---- 6. hvrnn samples: GIF, MP4 and TensorBoard images -------------------------------------------
hv=$work/runs/hv
"$fc" train "$src/configs/hvrnn_smmnist_tiny.pbtxt" --set output_dir="$hv" --set stages[0].steps=2 --set data.predicted_frames=5 \
  --set data.global_batch=2 --set data.loader_threads=1 --set logging.every_steps=1 \
  --set logging.sample_every_steps=1 --set logging.sample_clips=2 >out3.txt 2>&1 || { cat out3.txt; bad "hvrnn run"; }
for s in 1 2; do
  for ext in gif mp4; do
    f="$hv/samples/main-step0000000$s.$ext"
    # 2 clips x (ground truth | context + prediction), 64x64 tiles, 2-pixel gaps: 130 x 130; 10 frames.
    info=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=codec_name,width,height,nb_read_frames -of csv=p=0 "$f" 2>&1)
    case "$ext:$info" in
      gif:gif,130,130,10|mp4:h264,130,130,10|mp4:mpeg4,130,130,10) ok "$(basename "$f"): $info" ;;
      *) bad "$f: ffprobe says '$info'" ;;
    esac
  done
done
# Diagnostics on logging steps: gradient norm, per-channel KL and the active-channel count it implies.
"$py" - "$hv/metrics.jsonl" <<'PY' || bad "hvrnn diagnostics in metrics.jsonl"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["step"] for r in rows] == [1, 2], rows
for r in rows:
    assert r["grad_norm"] > 0, r
    assert r["time/loader_wait_ms"] >= 0 and r["time/grad_sync_wait_ms"] >= 0, r
    for level in (1, 2):
        ch = {k: v for k, v in r.items() if k.startswith("kl_channel/level%d/" % level)}
        assert ch and all(v >= 0 for v in ch.values()), (level, r)
        assert r["active%d" % level] == sum(v > 0.01 for v in ch.values()), (level, r)
print("ok: grad_norm, loader/sync wait and per-channel KL with active counts on every logging step")
PY
# Filmstrip: 4 tiles as rows (4 x 66 - 2 = 262), 10 frames as columns (10 x 66 - 2 = 658).
"$py" "$here/check_run.py" "$hv" --image-tag samples --image-steps 1,2 --image-size 262x658 || bad "event files of $hv"

# ---- 7. two ranks: the banner's layout and one log file per rank -------------------------------
"$mpirun" --oversubscribe -np 2 "$fc" train --set output_dir="$work/runs/np2" --set stages[0].steps=2 \
  >out4.txt 2>&1 || { cat out4.txt; bad "2-rank run"; }
grep -Eq '^\[framecast r0/2 [^]]*\] world: 2 rank\(s\) on 1 host\(s\): [^ ]+ ranks 0-1, device cpu, .*launcher mpirun$' out4.txt \
  && ok "2-rank banner" || bad "2-rank banner"
grep -Eq '^\[framecast r1/2 [^]]*\] run demo in .*rank 1/2 ' "$work/runs/np2/logs/rank1.log" && ok "rank1.log" || bad "rank1.log"
grep -q 'stage main step 2/2' "$work/runs/np2/logs/rank0.log" && ! grep -q 'stage main' "$work/runs/np2/logs/rank1.log" \
  && ok "step lines in rank0.log only" || bad "step lines per rank"

[ "$fail" -eq 0 ] && echo "log_cli_test: all checks passed" || echo "log_cli_test: FAILED"
exit "$fail"
