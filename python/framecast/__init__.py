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
import stat
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


def _regular_file(path):
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except OSError as e:
        raise ValueError(f"{path}: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):  # a FIFO or device would block or never end
        raise ValueError(f"{path}: not a regular file")
    return path, st.st_size


def _bad(path, what):
    return ValueError(f"{path}: {what}")


def read_safetensors(path):
    """(tensors, metadata) of a safetensors file; the header's structure and every offset are
    checked against the file before any tensor is read, and every problem is a ValueError that
    names the file. Needs only torch (the `safetensors` package reads the same files)."""
    path, size = _regular_file(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise _bad(path, "shorter than the 8-byte safetensors header length")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8 or n > 100 << 20:
            raise _bad(path, f"header length {n} at offset 0 exceeds the file ({size} bytes)")
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise _bad(path, f"header at offset 8 is not UTF-8 JSON ({e.__class__.__name__})") from None
        data = f.read()
    if not isinstance(header, dict):
        raise _bad(path, "header is not a JSON object")
    meta = header.pop("__metadata__", {}) or {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        raise _bad(path, "__metadata__ is not an object of strings")
    out = {}
    for name, h in header.items():
        if not isinstance(h, dict):
            raise _bad(path, f"tensor {name}: header entry is not an object")
        dtype = _DTYPES.get(h.get("dtype"))
        if dtype is None:
            raise _bad(path, f"tensor {name}: unknown dtype {h.get('dtype')!r}")
        shape, offsets = h.get("shape"), h.get("data_offsets")
        if not (isinstance(shape, list) and all(isinstance(d, int) and 0 <= d < 1 << 40 for d in shape)):
            raise _bad(path, f"tensor {name}: shape {shape!r} is not a list of sizes >= 0")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)):
            raise _bad(path, f"tensor {name}: data_offsets {offsets!r} is not [begin, end]")
        begin, end = offsets
        numel = 1
        for d in shape:
            numel *= d
        itemsize = torch.empty((), dtype=dtype).element_size()
        if not 0 <= begin <= end <= len(data) or end - begin != numel * itemsize:
            raise _bad(path, f"tensor {name}: data_offsets {begin}..{end} do not fit shape {shape} "
                             f"{h['dtype']} in a {len(data)}-byte data area")
        buf = bytearray(data[begin:end])
        t = torch.frombuffer(buf, dtype=dtype) if buf else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(shape).clone()
    return out, meta


def load_state(path):
    """(state dict, metadata) of a `framecast ckpt export` file: .safetensors or torch.load's
    (.pt, .pth). Errors are ValueErrors that name the file."""
    path = os.fspath(path)
    if path.endswith(".safetensors"):
        return read_safetensors(path)
    _regular_file(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - torch raises many types for a foreign file
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise _bad(path, f"not a torch.load export ({e.__class__.__name__}: {first[:120]})") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise _bad(path, "not a dict of named tensors (framecast ckpt export writes one)")
    return state, {}


def _config_text(path, meta, config):
    if config is not None:
        config = os.fspath(config)
        if "\n" not in config and ("{" not in config or os.path.exists(config)):
            cpath, _ = _regular_file(config)  # a path (a missing one is an error, not text)
            with open(cpath) as f:
                return f.read(), cpath
        return config, "config="
    text = meta.get("framecast.config")
    if not text:
        raise _bad(path, "this export holds no config (a .pt file): pass config=RUN_DIR/config.pbtxt")
    return text, f"{path}: framecast.config"


def _parse(text, source):
    try:
        run = pbtxt.parse_pbtxt(text)
    except Exception as e:  # noqa: BLE001 - the small parser raises IndexError/ValueError
        raise ValueError(f"{source}: not a protobuf text config ({e.__class__.__name__}: {e})") from None
    if not isinstance(run, dict):
        raise ValueError(f"{source}: not a protobuf text config")
    return run


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
            beta = args[0] if args else kwargs.get("beta", 1.0)
            noise = args[1] if len(args) > 1 else kwargs.get("noise")
            return self.module.forward_train(clip, self.context_frames, beta, noise)
        noise = args[0] if args else kwargs.get("noise")
        if noise is None:
            noise = lambda site, t, shape: torch.randn(shape, dtype=clip.dtype, device=clip.device)  # noqa: E731
        return self.module.forward_train(clip, noise)


class Cascade:
    """The CVG cascade's generators, in eval mode: `generators` {1-based level: the trained
    generator, at its training length}, `full` {level: the inference copy at the full length that
    framecast unrolls once a level has finished (G_unrolled), where the export has one}, and
    `finished`, the levels whose training had finished at the exported step (what
    `framecast sample` draws from)."""

    def __init__(self, generators, full, finished, cfg):
        self.generators, self.full, self.finished, self.cfg = generators, full, finished, cfg

    def to(self, *args, **kwargs):
        for g in list(self.generators.values()) + list(self.full.values()):
            g.to(*args, **kwargs)
        return self

    @property
    def levels(self):
        return sorted(self.generators)

    @property
    def num_classes(self):
        return self.cfg["num_classes"]

    def generate(self, level, z, labels=None, low_res=None, full=False):
        """Level `level`'s generator (1-based): z [B, z_dim], labels [B] int64 (class-conditional
        configs), low_res [B, T_in, C, r, r] in [-1, 1] (levels > 1). full: the full-length
        inference copy (see `full`) instead of the trained generator at its training length.
        Returns [B, T, C, R, R] in [-1, 1]."""
        G = self.full[level] if full else self.generators[level]
        if self.num_classes > 0 and labels is None:
            raise ValueError(f"level {level}: the cascade is class-conditional; pass labels [B]")
        if labels is not None:
            labels = torch.as_tensor(labels, dtype=torch.long, device=z.device)
        with torch.no_grad():
            return G(z, labels if self.num_classes > 0 else None, low_res)

    def sample(self, batch, labels=None, seed=0):
        """Clips of the finished levels in order, as `framecast sample` draws them: each level's
        full-length copy where there is one, fed the previous level's output (a level without one
        takes the first frames its training window holds). labels default to i % num_classes on
        class-conditional cascades. z of level k is the k-th draw of torch.randn from one
        generator seeded with `seed`, as framecast's SampleCascade draws it (equal clips for the
        same seed when every later level has a full-length copy; tested). A .pt export carries no
        stage state, so every exported level counts as finished. Returns every level's output."""
        if not self.finished:
            raise ValueError("no level of this export had finished training (level 1 still trains)")
        g = torch.Generator(device="cpu").manual_seed(int(seed))
        if self.num_classes > 0 and labels is None:
            labels = torch.arange(batch) % self.num_classes
        outs, x = [], None
        for level in self.finished:
            full = level in self.full
            G = self.full[level] if full else self.generators[level]
            if x is not None:
                x = x[:, :G.T // G.tu]
            z = torch.randn(batch, G.z, generator=g).to(next(G.parameters()))
            x = self.generate(level, z, labels, x, full=full)
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
    config: the run's config.pbtxt (a path, or the text); required for .pt exports. Every
    problem (file, format, config, a model that does not fit) is a ValueError naming the file."""
    path = os.fspath(path)
    state, meta = load_state(path)
    text, source = _config_text(path, meta, config)
    run = _parse(text, source)
    model = pbtxt.get_field(run, "model", {}) or {}
    data = pbtxt.get_field(run, "data", {}) or {}
    try:
        if "hvrnn" in model:
            import hvrnn_step as h
            cfg = h.hvrnn_config(pbtxt.get_field(model, "hvrnn"), pbtxt.get_int(data, "context_frames") or 1)
            net = h.Hvrnn(cfg)
        elif "srvp" in model:
            import srvp_step as s
            cfg = s.srvp_config(pbtxt.get_field(model, "srvp"), pbtxt.get_int(data, "context_frames"))
            net = s.Srvp(cfg)
        elif "cvg" in model:
            import cvg_step as c
            cfg = c.cvg_config(pbtxt.get_field(model, "cvg"))
        else:
            raise ValueError("names no family this module knows (hvrnn, srvp, cvg)")
    except (SystemExit, Exception) as e:  # noqa: BLE001 - the peers exit on configs they refuse
        raise ValueError(f"{source}: {e}") from None
    if "hvrnn" in model:
        return Predictor("hvrnn", _load_module(net, state, path, "hvrnn/"), cfg, run).to(device)
    if "srvp" in model:
        return Predictor("srvp", _load_module(net, state, path, "srvp/"), cfg, run).to(device)
    gens, full = {}, {}
    for level, L in enumerate(cfg["levels"]):
        rename = lambda k, lv=level: _cvg_peer_name(k, lv)  # noqa: E731
        prefix = f"level{level + 1}/G/"
        if any(k.startswith(prefix) for k in state):
            gens[level + 1] = _load_module(c.Generator(cfg, level), state, path, prefix, rename)
        prefix = f"level{level + 1}/G_unrolled/"
        if any(k.startswith(prefix) for k in state):
            full[level + 1] = _load_module(c.Generator(cfg, level, frames=L["frames"]), state, path,
                                           prefix, rename)
    if not gens:
        raise _bad(path, "no level<k>/G/ tensors (not a CVG export?)")
    done = meta.get("framecast.finished_stages")
    n = int(done) if done is not None and done.isdigit() else len(cfg["levels"])
    finished = [lv for lv in sorted(gens) if lv <= n]
    return Cascade(gens, full, finished, cfg).to(device)
