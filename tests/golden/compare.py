"""Compares (or, with --update, stores) the per-step losses of a run's metrics.jsonl.

usage: compare.py METRICS_JSONL GOLDEN_JSON [--update]
Keys compared per step: every scalar named in KEYS that the step line has. One line per mismatch,
naming the step, the key, both values and the relative difference; exit 1 if any.
"""
import json
import math
import sys

KEYS = ("loss", "nll", "kl", "loss_d", "loss_g", "d_real", "d_fake")
RTOL = 2e-3
ATOL = 1e-6


def steps_of(path):
    out = []
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            vals = {k: r[k] for k in KEYS if k in r}
            if vals:
                out.append({"step": r["step"], "stage": r.get("stage", ""), **vals})
    return out


def main(argv):
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    got = steps_of(argv[1])
    if not got:
        print(f"golden: {argv[1]}: no step lines with any of {KEYS}")
        return 1
    if argv[3:] == ["--update"]:
        with open(argv[2], "w") as f:
            json.dump({"rtol": RTOL, "steps": got}, f, indent=1)
            f.write("\n")
        print(f"golden: wrote {len(got)} steps to {argv[2]}")
        return 0
    with open(argv[2]) as f:
        want = json.load(f)["steps"]
    bad = 0
    if len(got) != len(want):
        print(f"golden: {argv[2]}: {len(want)} stored steps, the run logged {len(got)}")
        bad += 1
    for g, w in zip(got, want):
        if (g["step"], g["stage"]) != (w["step"], w["stage"]):
            print(f"golden: {argv[2]}: step {w['stage']}/{w['step']} stored, run logged "
                  f"{g['stage']}/{g['step']}")
            bad += 1
            continue
        for k in KEYS:
            if (k in w) != (k in g):
                print(f"golden: {argv[2]}: step {w['step']}: '{k}' in only one of stored/run")
                bad += 1
            elif k in w:
                a, b = g[k], w[k]
                if not (math.isfinite(a) and abs(a - b) <= ATOL + RTOL * abs(b)):
                    rel = abs(a - b) / max(abs(b), 1e-30)
                    print(f"golden: {argv[2]}: step {w['step']} {k}: run {a!r}, stored {b!r} "
                          f"(relative {rel:.2e} > {RTOL})")
                    bad += 1
    if bad:
        print(f"golden: {argv[2]}: {bad} mismatch(es); if the change is meant to alter the "
              "mathematics, rerun tests/golden/golden_test.sh with --update and say why")
        return 1
    print(f"golden: {argv[2]}: {len(want)} steps match (rtol {RTOL})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
