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


def close(report, key, a, b):
    """Records the largest absolute difference; False when it exceeds ABS or is NaN."""
    d = (a - b).abs().max().item() if a.numel() else 0.0
    report[key] = d
    return d <= ABS  # NaN compares False


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
    ok = True
    for path, cfg in ((st_path, None), (pt_path, config)):
        m = framecast.load(path, config=cfg)
        if isinstance(m, framecast.Cascade):
            for level in m.levels:
                p = f"level{level}"
                out = m.generate(level, blob[p + "/z"], blob.get(p + "/labels"), blob.get(p + "/low_res"))
                ok = close(report, f"{p}_out_max_abs", out, blob[p + "/out"]) and ok
                if f"{p}/full_out" in blob:  # the full-length inference copy
                    out = m.generate(level, blob[p + "/full_z"], blob.get(p + "/labels"),
                                     blob[p + "/full_low_res"], full=True)
                    ok = close(report, f"{p}_full_out_max_abs", out, blob[p + "/full_out"]) and ok
            # The full-length copies framecast has are the ones the module loaded.
            have_full = {int(k[len("level"):].split("/")[0]) for k in blob if k.endswith("/full_out")}
            if have_full != set(m.full) or not m.levels or not m.finished:
                report["full_levels"] = [sorted(have_full), sorted(m.full)]
                ok = False
            # Cascade.sample against framecast's SampleCascade (seed 1, labels i % num_classes).
            clips = m.sample(2, seed=1)
            want = [blob[k] for k in sorted(k for k in blob if k.startswith("sample/"))]
            if len(clips) != len(want):
                report["sample_levels"] = [len(clips), len(want)]
                ok = False
            for i, (a, b) in enumerate(zip(clips, want)):
                if a.shape != b.shape:
                    report[f"sample{i + 1}_shape"] = [list(a.shape), list(b.shape)]
                    ok = False
                else:
                    ok = close(report, f"sample{i + 1}_max_abs", a, b) and ok
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
        ok = ok and rel <= LOSS_REL  # NaN compares False
        if m.family == "hvrnn":
            ok = close(report, "predictions_max_abs", out[3], blob["predictions"]) and ok
        D = m.context_frames
        gen = m.predict(clip[:, :D], blob["generated"].shape[1], noise=replay("gnoise"))
        ok = close(report, "generated_max_abs", gen, blob["generated"]) and ok
    print(json.dumps(report))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
