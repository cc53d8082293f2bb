"""Checks python/framecast against framecast's own forward (framecast_forward_dump's file).

  check_forward.py DUMP.pt EXPORT.safetensors EXPORT.pt CONFIG.pbtxt

Both exports must hold the same tensors; the model loaded from each (the .pt with the run's config)
must reproduce, with the noise framecast drew, the loss (relative difference <= 1e-5), the
teacher-forced predictions, the generated frames and every CVG level's generator output (largest
absolute difference <= 1e-4 on values in [0, 1] or [-1, 1]: float32, summation order differs
between LibTorch's C++ modules and torch.nn's). Prints one JSON line of the differences.
"""
import json
import sys

import torch

import framecast

LOSS_REL, ABS = 1e-5, 1e-4


def main():
    dump_path, st_path, pt_path, config = sys.argv[1:5]
    blob = torch.load(dump_path, weights_only=False)
    st, meta = framecast.load_state(st_path)
    pt, _ = framecast.load_state(pt_path)
    if set(st) != set(pt) or any(not torch.equal(st[k], pt[k]) for k in st):
        sys.exit(f"{st_path} and {pt_path} hold different tensors")
    for key in ("framecast.family", "framecast.config", "framecast.global_step"):
        if not meta.get(key):
            sys.exit(f"{st_path}: metadata lacks {key}")
    report = {"family": meta["framecast.family"], "tensors": len(st)}
    try:  # the reference reader, where installed (launch/setup.sh installs it in the venv)
        import safetensors.torch
        ref = safetensors.torch.load_file(st_path)
        if set(ref) != set(st) or any(not torch.equal(ref[k], st[k]) for k in st):
            sys.exit(f"{st_path}: the safetensors package reads other tensors than framecast.read_safetensors")
        with safetensors.safe_open(st_path, "pt") as f:
            if f.metadata().get("framecast.config") != meta["framecast.config"]:
                sys.exit(f"{st_path}: the safetensors package reads other metadata")
        report["safetensors_package"] = "equal"
    except ImportError:
        report["safetensors_package"] = "not installed (skipped)"
    worst = 0.0
    ok = True
    for path, cfg in ((st_path, None), (pt_path, config)):
        m = framecast.load(path, config=cfg)
        if isinstance(m, framecast.Cascade):
            for level in m.levels:
                p = f"level{level}"
                out = m.generate(level, blob[p + "/z"], blob.get(p + "/labels"), blob.get(p + "/low_res"))
                d = (out - blob[p + "/out"]).abs().max().item()
                report[f"{p}_out_max_abs"] = d
                worst = max(worst, d)
                if f"{p}/full_out" in blob:  # the full-length inference copy
                    out = m.generate(level, blob[p + "/full_z"], blob.get(p + "/labels"),
                                     blob[p + "/full_low_res"], full=True)
                    d = (out - blob[p + "/full_out"]).abs().max().item()
                    report[f"{p}_full_out_max_abs"] = d
                    worst = max(worst, d)
            if not m.levels or not m.finished:
                ok = False
            clips = m.sample(2, seed=1)  # every finished level, labels i % num_classes
            report["sample_shapes"] = [list(x.shape) for x in clips]
            last = m.finished[-1]
            want_t = m.full[last].T if last in m.full else m.generators[last].T
            ok = ok and len(clips) == len(m.finished) and clips[-1].shape[1] == want_t
            continue

        def replay(prefix):
            def noise(key, t, shape):
                v = blob[f"{prefix}/{int(key)}/{t}"]
                assert tuple(v.shape) == tuple(shape), (prefix, key, t, v.shape, shape)
                return v
            return noise

        clip = blob["clip"]
        with torch.no_grad():
            out = m.loss(clip, noise=replay("noise"))
        loss = out[0].item()
        want = blob["loss"].item()
        rel = abs(loss - want) / max(abs(want), 1e-30)
        report["loss"], report["loss_rel_diff"] = loss, rel
        ok = ok and rel <= LOSS_REL
        if m.family == "hvrnn":
            d = (out[3] - blob["predictions"]).abs().max().item()
            report["predictions_max_abs"] = d
            worst = max(worst, d)
        D = m.context_frames
        gen = m.predict(clip[:, :D], blob["generated"].shape[1], noise=replay("gnoise"))
        d = (gen - blob["generated"]).abs().max().item()
        report["generated_max_abs"] = d
        worst = max(worst, d)
    report["max_abs"] = worst
    print(json.dumps(report))
    return 0 if ok and worst <= ABS else 1


if __name__ == "__main__":
    sys.exit(main())
