"""What the model-step peers (cvg_step.py, hvrnn_step.py) share: precision, torch.compile, timing,
peak memory and FLOP counting, each done the same way for every model family."""
import contextlib
import json
import resource
import time

import torch


def add_common_args(p):
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                   help="bf16: torch.autocast(device, bfloat16) around forward and loss; fp32 master weights")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile (default mode) the modules' forward; backward through AOTAutograd")
    p.add_argument("--count-flops", action="store_true",
                   help="print the FLOPs of one step (torch.utils.flop_counter.FlopCounterMode) and exit")
    p.add_argument("--with-flops", action="store_true",
                   help="after timing, also count the FLOPs of one step (as --count-flops) into the JSON")
    p.add_argument("--count-only", action="store_true", help="print the parameter counts and exit")


def setup(dev, threads):
    """Threads, and cuDNN autotuning on CUDA as framecast's step has it by default
    (performance.cudnn_benchmark)."""
    torch.set_num_threads(threads)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True


def autocast(dev, precision):
    """bf16: torch.autocast on the device (none on meta, which only counts FLOPs: the same either way)."""
    if precision == "bf16" and dev.type != "meta":
        return torch.autocast(device_type=dev.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def reset_peak(dev):
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()


def peak_mem_mb(dev):
    """The CUDA caching allocator's peak on cuda; the process's peak RSS (ru_maxrss) on cpu."""
    if dev.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median_ms(step, warmup, steps, dev):
    """Runs `step` warmup + steps times; the median wall time of the timed ones, synchronised."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        sync(dev)
        t0 = time.perf_counter()
        step()
        sync(dev)
        times.append(time.perf_counter() - t0)
    times.sort()
    return 1e3 * times[len(times) // 2]


def compile_modules(mods, enabled):
    """torch.compile of each module (shares the parameters); the modules themselves when disabled."""
    return [torch.compile(m) if enabled else m for m in mods]


def count_flops(run_once, batch):
    """FLOPs of one step as FlopCounterMode counts them: matmul / convolution (and attention) ops,
    forward and backward, 2 FLOPs per multiply-add; elementwise, normalisation and optimizer
    arithmetic are not counted.

    run_once(device, batch, counter) builds the model on `device` and runs one step's forward and
    backward (no optimizer step, no host synchronisation) under the active FlopCounterMode
    `counter`; it returns the step's total (it may count a repeated phase once and multiply), or
    None for the counter's total. First on the meta device at the full batch (no memory, no
    arithmetic); if an op has no meta kernel, on the CPU at batch 1, times `batch` (exact for these
    models: every counted op scales with the batch except spectral-norm power iterations, a few
    matrix-vector products per weight)."""
    from torch.utils.flop_counter import FlopCounterMode

    def run(dev, b):
        with FlopCounterMode(display=False) as fc:
            total = run_once(dev, b, fc)
        return int(fc.get_total_flops() if total is None else total)

    try:
        return {"flops": run(torch.device("meta"), batch), "flops_method": "meta device, full batch"}
    except Exception as e:  # an op without a meta kernel
        meta_error = first_line(e)
    return {"flops": run(torch.device("cpu"), 1) * batch,
            "flops_method": f"cpu at batch 1 x {batch} (meta failed: {meta_error[:160]})"}


def emit(obj):
    print(json.dumps(obj), flush=True)


def first_line(e):
    s = str(e).strip().splitlines()
    return f"{type(e).__name__}: {s[0] if s else ''}"[:300]
