#!/bin/bash
# The learning benchmark (not a test): trains the tiny HVRNN and the tiny cascade on 2 CPU ranks
# for a stated budget, evaluates both the papers' way, and prints one table.
#
#   bash bench/learning.sh [--hvrnn-steps N] [--cvg-steps N1,N2] [--out DIR] [--np R]
#
# HVRNN (configs/hvrnn_smmnist_tiny.pbtxt): per predicted frame, best-of-N PSNR / SSIM of the model
#   and of the copy-last-frame, mean-frame and blur-last-frame baselines (framecast eval), whether
#   the model beats all three at that frame; the active latent channels per level at the last
#   logged step; the held-out negative ELBO.
# CVG (configs/cvg_tiny.pbtxt): Inception Score, FID and class accuracy of class-conditional
#   samples, of the real test clips and of an untrained generator, by framecast's frame
#   classifier (trained once into the run directory).
# The goal (issue: "the models must visibly learn"): the HVRNN beats every baseline on PSNR and
# SSIM at every predicted frame with latents active; samples are classified as their class at least
# 60% of the time and their FID is far closer to the real clips' than the untrained generator's.
# Defaults: the configs' own step counts. Results: DIR (default build/learning), and a summary
# printed last, with the wall time of each part.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
hvrnn_steps="" cvg_steps="" out="" np=2
while [ $# -gt 0 ]; do
  case "$1" in
    --hvrnn-steps) hvrnn_steps="$2"; shift 2 ;;
    --cvg-steps) cvg_steps="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --np) np="$2"; shift 2 ;;
    *) echo "bench/learning.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
source "$root/launch/env.sh"
"$root/launch/setup.sh"
"$root/launch/build.sh"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out="${out:-$FRAMECAST_BUILD_DIR/learning}"
rm -rf "$out"
mkdir -p "$out"
run="$root/launch/run.sh"
hcfg="$root/configs/hvrnn_smmnist_tiny.pbtxt" ccfg="$root/configs/cvg_tiny.pbtxt"
hset=() cset=()
[ -z "$hvrnn_steps" ] || hset=(--set "stages[0].steps=$hvrnn_steps")
if [ -n "$cvg_steps" ]; then
  IFS=, read -r s1 s2 <<< "$cvg_steps"
  cset=(--set "stages[0].steps=$s1" --set "stages[1].steps=${s2:-$s1}")
fi

t0=$(date +%s)
"$run" -np "$np" train "$hcfg" --set output_dir="$out/hvrnn" "${hset[@]}" > "$out/hvrnn_train.log" 2>&1
t1=$(date +%s)
hstep="$(ls -d "$out"/hvrnn/checkpoints/step-* | sort | tail -n 1)"
"$run" -np "$np" eval "$hcfg" --checkpoint "$hstep" --set output_dir="$out/hvrnn" "${hset[@]}" \
  > "$out/hvrnn_eval.log" 2>&1
t2=$(date +%s)
"$run" -np "$np" train "$ccfg" --set output_dir="$out/cvg" "${cset[@]}" > "$out/cvg_train.log" 2>&1
t3=$(date +%s)
cstep="$(ls -d "$out"/cvg/checkpoints/step-* | sort | tail -n 1)"
"$run" -np "$np" eval "$ccfg" --checkpoint "$cstep" --set output_dir="$out/cvg" "${cset[@]}" \
  > "$out/cvg_eval.log" 2>&1
t4=$(date +%s)

"${FRAMECAST_PYTHON:-python3}" - "$out" "$hstep" "$cstep" "$((t1 - t0))" "$((t2 - t1))" "$((t3 - t2))" \
  "$((t4 - t3))" "$np" <<'PY'
import csv, json, os, sys
out, hstep, cstep = sys.argv[1:4]
th, teh, tc, tec, np = map(int, sys.argv[4:9])
hev = os.path.join(out, "hvrnn", "eval", os.path.basename(hstep))
rows = list(csv.DictReader(open(os.path.join(hev, "curves.csv"))))
per = {}
for r in rows:
    per.setdefault(r["method"], []).append((float(r["psnr"]), float(r["ssim"])))
model = per.pop("hvrnn")
print(f"== HVRNN (configs/hvrnn_smmnist_tiny.pbtxt, {np} ranks, trained {th} s) ==")
names = list(per)
print("frame | hvrnn PSNR/SSIM | " + " | ".join(f"{n} PSNR/SSIM" for n in names) + " | beats all")
wins = 0
for t, (p, s) in enumerate(model):
    ok = all(p > per[n][t][0] and s > per[n][t][1] for n in names)
    wins += ok
    cells = " | ".join(f"{per[n][t][0]:.2f} / {per[n][t][1]:.4f}" for n in names)
    print(f"{t + 1:5d} | {p:.2f} / {s:.4f} | {cells} | {'yes' if ok else 'no'}")
rep = json.load(open(os.path.join(hev, "report.json")))
for m in rep["methods"]:
    print(f"  mean over frames: {m['name']:<16} PSNR {m['psnr']['mean']:.2f}  SSIM {m['ssim']['mean']:.4f}")
last = None
for line in open(os.path.join(out, "hvrnn", "metrics.jsonl")):
    r = json.loads(line)
    if any(k.startswith("active") for k in r):
        last = r
active = {k: v for k, v in (last or {}).items() if k.startswith("active")}
print("  active latent channels at step", (last or {}).get("step"), ":",
      ", ".join(f"{k} {int(v)}" for k, v in sorted(active.items())))
for e in rep.get("elbo", []):
    print(f"  held-out -ELBO: {e['neg_elbo_nats']:.1f} nats/video (NLL {e['nll_nats']:.1f} + KL "
          f"{e['kl_nats']:.2f}), {e['bits_per_dim']:.4f} bits/dim; {e['note']}")
print(f"  frames where the HVRNN beats all baselines on PSNR and SSIM: {wins}/{len(model)}")
cev = os.path.join(out, "cvg", "eval", os.path.basename(cstep))
crep = json.load(open(os.path.join(cev, "report.json")))
print(f"\n== CVG (configs/cvg_tiny.pbtxt, {np} ranks, trained {tc} s) ==")
print(open(os.path.join(cev, "table.txt")).read().rstrip())
rows = crep["methods"]
full = [m for m in rows if m["name"].startswith("cvg")][-1]  # the whole cascade
base = [m for m in rows if m["name"].startswith("untrained")]
acc, fid = full["class_accuracy"], full["fid"]
fid_base = base[-1]["fid"] if base else None
goal_h = wins == len(model) and all(v > 0 for v in active.values()) and active
goal_c = acc is not None and acc >= 0.6 and fid is not None and fid_base is not None and fid < 0.5 * fid_base
print(f"\nsummary: HVRNN goal {'met' if goal_h else 'NOT met'} ({wins}/{len(model)} frames, active "
      f"{', '.join(str(int(v)) for _, v in sorted(active.items()))}); CVG goal "
      f"{'met' if goal_c else 'NOT met'} (class accuracy {100 * (acc or 0):.1f}%, FID {fid} vs "
      f"untrained {fid_base}); wall time: HVRNN train {th} s + eval {teh} s, CVG train {tc} s + "
      f"eval {tec} s")
PY
