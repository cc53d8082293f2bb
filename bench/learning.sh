#!/bin/bash
# The learning benchmark (not a test): trains the tiny HVRNN and the tiny cascade on 2 CPU ranks
# for a stated budget, evaluates both the papers' way, and prints one table.
#
#   bash bench/learning.sh [--hvrnn-steps N] [--srvp-steps N] [--cvg-steps N1,N2] [--out DIR] [--np R]
#                          [--only hvrnn,srvp,cvg]
#
# HVRNN (configs/hvrnn_smmnist_tiny.pbtxt): per predicted frame, best-of-N PSNR / SSIM of the model
#   and of the copy-last-frame, mean-frame and blur-last-frame baselines (framecast eval), whether
#   the model beats all three at that frame; the active latent channels per level at the last
#   logged step; the held-out negative ELBO.
# SRVP (configs/srvp_smmnist_tiny.pbtxt): the same table and measures as the HVRNN (its ELBO is over
#   every frame of the clip).
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
hvrnn_steps="" srvp_steps="" cvg_steps="" out="" np=2 only="hvrnn,srvp,cvg"
while [ $# -gt 0 ]; do
  case "$1" in
    --hvrnn-steps) hvrnn_steps="$2"; shift 2 ;;
    --cvg-steps) cvg_steps="$2"; shift 2 ;;
    --srvp-steps) srvp_steps="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
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
want() { [[ ",$only," == *",$1,"* ]]; }
# One prediction family: train, then evaluate the newest step; prints its wall times "train eval".
predict() {  # family config steps
  local fam="$1" cfg="$2" steps="$3" set=() t0 t1 t2 step
  [ -z "$steps" ] || set=(--set "stages[0].steps=$steps")
  t0=$(date +%s)
  "$run" -np "$np" train "$cfg" --set output_dir="$out/$fam" "${set[@]}" > "$out/${fam}_train.log" 2>&1
  t1=$(date +%s)
  step="$(ls -d "$out/$fam"/checkpoints/step-* | sort | tail -n 1)"
  "$run" -np "$np" eval "$cfg" --checkpoint "$step" --set output_dir="$out/$fam" "${set[@]}" \
    > "$out/${fam}_eval.log" 2>&1
  t2=$(date +%s)
  echo "$((t1 - t0)) $((t2 - t1))" > "$out/${fam}_times"
}
want hvrnn && predict hvrnn "$root/configs/hvrnn_smmnist_tiny.pbtxt" "$hvrnn_steps"
want srvp && predict srvp "$root/configs/srvp_smmnist_tiny.pbtxt" "$srvp_steps"
ccfg="$root/configs/cvg_tiny.pbtxt" cset=()
if [ -n "$cvg_steps" ]; then
  IFS=, read -r s1 s2 <<< "$cvg_steps"
  cset=(--set "stages[0].steps=$s1" --set "stages[1].steps=${s2:-$s1}")
fi
if want cvg; then
  t2=$(date +%s)
  "$run" -np "$np" train "$ccfg" --set output_dir="$out/cvg" "${cset[@]}" > "$out/cvg_train.log" 2>&1
  t3=$(date +%s)
  cstep="$(ls -d "$out"/cvg/checkpoints/step-* | sort | tail -n 1)"
  "$run" -np "$np" eval "$ccfg" --checkpoint "$cstep" --set output_dir="$out/cvg" "${cset[@]}" \
    > "$out/cvg_eval.log" 2>&1
  t4=$(date +%s)
  echo "$((t3 - t2)) $((t4 - t3))" > "$out/cvg_times"
fi

"${FRAMECAST_PYTHON:-python3}" - "$out" "$np" "$only" <<'PY'
import csv, glob, json, os, sys
out, np, only = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(",")


def times(fam):
    return [int(v) for v in open(os.path.join(out, fam + "_times")).read().split()]


def newest_eval(fam):
    return sorted(glob.glob(os.path.join(out, fam, "eval", "step-*")))[-1]


summary = []
for fam, cfg in (("hvrnn", "hvrnn_smmnist_tiny"), ("srvp", "srvp_smmnist_tiny")):
    if fam not in only:
        continue
    th, teh = times(fam)
    hev = newest_eval(fam)
    rows = list(csv.DictReader(open(os.path.join(hev, "curves.csv"))))
    per = {}
    for r in rows:
        per.setdefault(r["method"], []).append((float(r["psnr"]), float(r["ssim"])))
    model = per.pop(fam)
    print(f"== {fam.upper()} (configs/{cfg}.pbtxt, {np} ranks, trained {th} s) ==")
    names = list(per)
    print(f"frame | {fam} PSNR/SSIM | " + " | ".join(f"{n} PSNR/SSIM" for n in names) + " | beats all")
    wins = 0
    for t, (p, s) in enumerate(model):
        ok = all(p > per[n][t][0] and s > per[n][t][1] for n in names)
        wins += ok
        cells = " | ".join(f"{per[n][t][0]:.2f} / {per[n][t][1]:.4f}" for n in names)
        print(f"{t + 1:5d} | {p:.2f} / {s:.4f} | {cells} | {'yes' if ok else 'no'}")
    rep = json.load(open(os.path.join(hev, "report.json")))
    for m in rep["methods"]:
        print(f"  mean over frames: {m['name']:<16} PSNR {m['psnr']['mean']:.2f}  SSIM {m['ssim']['mean']:.4f}")
    active = {}
    if fam == "hvrnn":
        last = None
        for line in open(os.path.join(out, fam, "metrics.jsonl")):
            r = json.loads(line)
            if any(k.startswith("active") for k in r):
                last = r
        active = {k: v for k, v in (last or {}).items() if k.startswith("active")}
        print("  active latent channels at step", (last or {}).get("step"), ":",
              ", ".join(f"{k} {int(v)}" for k, v in sorted(active.items())))
    for e in rep.get("elbo", []):
        print(f"  held-out -ELBO: {e['neg_elbo_nats']:.1f} nats/video (NLL {e['nll_nats']:.1f} + KL "
              f"{e['kl_nats']:.2f}), {e['bits_per_dim']:.4f} bits/dim; {e['note']}")
    print(f"  frames where the {fam} beats all baselines on PSNR and SSIM: {wins}/{len(model)}\n")
    goal = wins == len(model) and (fam != "hvrnn" or (active and all(v > 0 for v in active.values())))
    summary.append(f"{fam.upper()} goal {'met' if goal else 'NOT met'} ({wins}/{len(model)} frames"
                   + (f", active {', '.join(str(int(v)) for _, v in sorted(active.items()))}" if active else "")
                   + f"; train {th} s + eval {teh} s)")
if "cvg" in only:
    tc, tec = times("cvg")
    cev = newest_eval("cvg")
    crep = json.load(open(os.path.join(cev, "report.json")))
    print(f"== CVG (configs/cvg_tiny.pbtxt, {np} ranks, trained {tc} s) ==")
    print(open(os.path.join(cev, "table.txt")).read().rstrip())
    rows = crep["methods"]
    full = [m for m in rows if m["name"].startswith("cvg")][-1]  # the whole cascade
    base = [m for m in rows if m["name"].startswith("untrained")]
    acc, fid = full["class_accuracy"], full["fid"]
    fid_base = base[-1]["fid"] if base else None
    goal_c = acc is not None and acc >= 0.6 and fid is not None and fid_base is not None and fid < 0.5 * fid_base
    summary.append(f"CVG goal {'met' if goal_c else 'NOT met'} (class accuracy {100 * (acc or 0):.1f}%, FID "
                   f"{fid} vs untrained {fid_base}; train {tc} s + eval {tec} s)")
print("\nsummary: " + "; ".join(summary))
PY
