"""framecast models in PyTorch: load an exported checkpoint and run it.

    framecast ckpt export RUN_DIR/checkpoints/step-00002000 model.safetensors
    PYTHONPATH=python python3 -c '
    import torch, framecast
    m = framecast.load("model.safetensors")            # the family and config come from the file
    context = torch.rand(4, m.context_frames, *m.frame_shape)
    video = m.predict(context, horizon=10, seed=0)      # [4, 10, C, H, W] in [0, 1]'

A `.pt` export (torch.load format) holds tensors only: pass the run's config with it,
`framecast.load("model.pt", config="RUN_DIR/config.pbtxt")`. A `.safetensors` export carries the
family, the effective config text and the step in its metadata.

The PyTorch modules are the peers in bench/peers/ (hvrnn_step.py, srvp_step.py, cvg_step.py):
written from the specs with framecast's module and parameter names (hvrnn, srvp: the exported
names without the family prefix; cvg: the same modules as ModuleLists, renamed on load by
_cvg_peer_name), and checked against framecast's forward from exported weights by
tests/python/module_test.sh. Loading is strict: every name and shape must match.

Families:
  hvrnn  Predictor: predict(context [B, D, C, H, W] in [0, 1], horizon, seed | noise) and
         loss(clip, beta=1, noise=None) -> (loss, nll, kl, teacher-forced means)
  srvp   Predictor: predict(context, horizon, seed | noise, euler_steps=0, every_substep=False)
         and loss(clip, noise) -> (loss, per-sequence NLL)
  cvg    Cascade: generate(level, z, labels=None, low_res=None) (1-based level, output in
         [-1, 1]) and sample(batch, labels=None, seed=0) through every exported level.
"""
import json
import os
import re
import struct
import sys

import torch

_PEERS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bench", "peers")
if _PEERS not in sys.path:
    sys.path.insert(0, _PEERS)

import pbtxt  # noqa: E402

__all__ = ["load", "load_state", "read_safetensors", "Predictor", "Cascade"]

_DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
           "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
           "U8": torch.uint8, "BOOL": torch.bool}


def read_safetensors(path):
    """(tensors, metadata) of a safetensors file; every header field is checked against the file
    size before any tensor is read. Needs only torch (the `safetensors` package reads the same
    files: safetensors.torch.load_file)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"{path}: shorter than the 8-byte safetensors header length")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8 or n > 100 << 20:
            raise ValueError(f"{path}: header length {n} at offset 0 exceeds the file ({size} bytes)")
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for name, h in header.items():
        dtype = _DTYPES.get(h.get("dtype"))
        if dtype is None:
            raise ValueError(f"{path}: tensor {name}: unknown dtype {h.get('dtype')!r}")
        begin, end = h["data_offsets"]
        shape = [int(s) for s in h["shape"]]
        numel = 1
        for s in shape:
            numel *= s
        itemsize = torch.empty((), dtype=dtype).element_size()
        if not 0 <= begin <= end <= len(data) or end - begin != numel * itemsize:
            raise ValueError(f"{path}: tensor {name}: data_offsets {begin}..{end} do not fit "
                             f"shape {shape} {h['dtype']} in a {len(data)}-byte data area")
        buf = bytearray(data[begin:end])
        t = torch.frombuffer(buf, dtype=dtype) if buf else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(shape).clone()
    return out, meta


def load_state(path):
    """(state dict, metadata) of a `framecast ckpt export` file: .safetensors or torch.load's."""
    if path.endswith(".safetensors"):
        return read_safetensors(path)
    return torch.load(path, map_location="cpu", weights_only=True), {}


def _config_text(meta, config):
    if config is not None:
        if os.path.isfile(config):
            with open(config) as f:
                return f.read()
        return config  # the text itself
    text = meta.get("framecast.config")
    if not text:
        raise ValueError("this export holds no config (a .pt file): pass config=RUN_DIR/config.pbtxt")
    return text


class Predictor:
    """A prediction family (hvrnn, srvp) with its weights, in eval mode."""

    def __init__(self, family, module, cfg, run):
        self.family, self.module, self.cfg = family, module, cfg
        data = pbtxt.get_field(run, "data", {}) or {}
        self.context_frames = pbtxt.get_int(data, "context_frames") or 1
        self.predicted_frames = pbtxt.get_int(data, "predicted_frames") or 1
        if family == "hvrnn":
            self.frame_shape = (cfg["image_channels"], cfg["image_size"], cfg["image_size"])
        else:
            self.frame_shape = (cfg["nc"], cfg["size"], cfg["size"])

    def to(self, *args, **kwargs):
        self.module.to(*args, **kwargs)
        return self

    def _noise(self, seed, like):
        if seed is None:
            return None
        g = torch.Generator(device="cpu").manual_seed(int(seed))
        return lambda *key_and_shape: torch.randn(tuple(key_and_shape[-1]), generator=g).to(like)

    def predict(self, context, horizon, seed=None, noise=None, **kwargs):
        """Frames after `context` [B, D, C, H, W] in [0, 1]: [B, horizon, C, H, W]. noise(key..., shape)
        replaces the standard normal draws (framecast's keys: hvrnn (level, t), srvp (site, t));
        seed draws them from one torch.Generator."""
        noise = noise or self._noise(seed, context)
        with torch.no_grad():
            return self.module.generate(context, horizon, noise, **kwargs)

    def loss(self, clip, *args, **kwargs):
        """The training objective of one clip batch [B, D + T, C, H, W], as framecast computes it."""
        if self.family == "hvrnn":
            beta = args[0] if args else kwargs.pop("beta", 1.0)
            return self.module.forward_train(clip, self.context_frames, beta, kwargs.get("noise"))
        noise = args[0] if args else kwargs.get("noise")
        if noise is None:
            noise = lambda site, t, shape: torch.randn(shape, dtype=clip.dtype, device=clip.device)  # noqa: E731
        return self.module.forward_train(clip, noise)


class Cascade:
    """The CVG cascade's trained generators (one per exported level), in eval mode."""

    def __init__(self, generators, cfg):
        self.generators, self.cfg = generators, cfg  # {1-based level: Generator}

    def to(self, *args, **kwargs):
        for g in self.generators.values():
            g.to(*args, **kwargs)
        return self

    @property
    def levels(self):
        return sorted(self.generators)

    def generate(self, level, z, labels=None, low_res=None):
        """Level `level`'s generator (1-based) at its training length: z [B, z_dim], labels [B]
        int64 (class-conditional configs), low_res [B, T_in, C, r, r] in [-1, 1] (levels > 1).
        Returns [B, T, C, R, R] in [-1, 1]."""
        with torch.no_grad():
            return self.generators[level](z, labels, low_res)

    def sample(self, batch, labels=None, seed=0):
        """Every exported level in order, each fed the previous one's output (its first frames
        when the level was trained on a shorter window). Returns the list of level outputs."""
        g = torch.Generator(device="cpu").manual_seed(int(seed))
        outs, x = [], None
        for level in self.levels:
            G = self.generators[level]
            if x is not None:
                window = G.T // G.tu
                x = x[:, :window]
            z = torch.randn(batch, G.z, generator=g)
            x = self.generate(level, z, labels, x)
            outs.append(x)
        return outs


def _cvg_peer_name(name, level):
    """framecast's CVG generator names (unit<u>_<part>) as the peer's ModuleLists: level 1 has
    grus[u] and blocks[2u], blocks[2u + 1]; upscaling levels have blocks[3u + j] and inject[3u + j]
    for j = 0 (the separable 3-D block), 1 (block0), 2 (block1)."""
    m = re.match(r"unit(\d+)_(gru|block0|block1|block3d|inject0|inject1|inject3d)\.(.*)", name)
    if not m:
        return name
    u, part, rest = int(m[1]), m[2], m[3]
    if level == 0:
        if part == "gru":
            return f"grus.{u}.{rest}"
        return f"blocks.{2 * u + (part == 'block1')}.{rest}"
    j = {"block3d": 0, "block0": 1, "block1": 2, "inject3d": 0, "inject0": 1, "inject1": 2}[part]
    return f"{'inject' if part.startswith('inject') else 'blocks'}.{3 * u + j}.{rest}"


def _load_module(module, state, path, prefix="", rename=None):
    sub = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if rename is not None:
        # BatchNorm's step counter: framecast keeps it, the peer's per-time-step BN has none (it
        # uses a fixed momentum, so the counter never affects the output).
        sub = {rename(k): v for k, v in sub.items()
               if not (k.endswith("num_batches_tracked") and rename(k) not in module.state_dict())}
    want = module.state_dict()
    missing = sorted(set(want) - set(sub))
    extra = sorted(set(sub) - set(want))
    if missing or extra:
        raise ValueError(f"{path}: the export does not fit the config's model under '{prefix}': "
                         f"missing {missing[:4]}, unexpected {extra[:4]}")
    for k, v in sub.items():
        if tuple(v.shape) != tuple(want[k].shape):
            raise ValueError(f"{path}: {prefix}{k}: shape {tuple(v.shape)}, the config's model has "
                             f"{tuple(want[k].shape)}")
    module.load_state_dict({k: v.to(want[k].dtype) for k, v in sub.items()})
    module.eval()
    return module


def load(path, config=None, device="cpu"):
    """The model of an export (`framecast ckpt export STEP_DIR FILE`), weights loaded, eval mode.
    config: the run's config.pbtxt (path or text); required for .pt exports."""
    state, meta = load_state(path)
    run = pbtxt.parse_pbtxt(_config_text(meta, config))
    model = pbtxt.get_field(run, "model", {}) or {}
    data = pbtxt.get_field(run, "data", {}) or {}
    if "hvrnn" in model:
        import hvrnn_step as h
        cfg = h.hvrnn_config(pbtxt.get_field(model, "hvrnn"), pbtxt.get_int(data, "context_frames") or 1)
        return Predictor("hvrnn", _load_module(h.Hvrnn(cfg), state, path, "hvrnn/"), cfg, run).to(device)
    if "srvp" in model:
        import srvp_step as s
        cfg = s.srvp_config(pbtxt.get_field(model, "srvp"), pbtxt.get_int(data, "context_frames"))
        return Predictor("srvp", _load_module(s.Srvp(cfg), state, path, "srvp/"), cfg, run).to(device)
    if "cvg" in model:
        import cvg_step as c
        cfg = c.cvg_config(pbtxt.get_field(model, "cvg"))
        gens = {}
        for level in range(len(cfg["levels"])):
            prefix = f"level{level + 1}/G/"
            if any(k.startswith(prefix) for k in state):
                gens[level + 1] = _load_module(c.Generator(cfg, level), state, path, prefix,
                                               lambda k, lv=level: _cvg_peer_name(k, lv))
        if not gens:
            raise ValueError(f"{path}: no level<k>/G/ tensors (not a CVG export?)")
        return Cascade(gens, cfg).to(device)
    raise ValueError(f"{path}: the config names no family this module knows (hvrnn, srvp, cvg)")
