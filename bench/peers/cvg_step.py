"""PyTorch eager peer of the CVG model (src/models/cvg): one training iteration of a level, timed.

Reads the same RunConfig text file as framecast (a small text-format parser; the venv has no
google.protobuf), applies the same defaults as ApplyCvgDefaults, builds the same architecture (same
modules, same widths, same parameter counts) and times one CVG iteration: 2 discriminator steps
(each on a real window of the fixed real batch and fresh fakes generated under no-grad) and 1 generator step, Adam on
both networks. Level k > 1 also runs the frozen generators of levels 1..k-1 (eval mode, no-grad)
to make its input, as in training.

  cvg_step.py CONFIG [--level 1] [--batch N] [--steps 5] [--warmup 2] [--threads 1]
                [--device cpu|cuda] [--precision fp32|bf16] [--compile]
  cvg_step.py CONFIG --level K --count-only    # {"params_g": N, "params_d": N} (meta device)
  cvg_step.py CONFIG --level K --batch N --count-flops   # {"flops": N, "flops_method": ...}

Prints one JSON line: {"mode", "ms_per_iter" (median), "clips_per_s", "peak_mem_mb", "params_g",
"params_d"}, or {"mode": "compile", "error": why} when torch.compile cannot build on this machine.
peak_mem_mb is the CUDA allocator's peak on cuda and the process's peak RSS (ru_maxrss) on cpu.
The real clips are one fixed batch of the last level's full length (as `framecast bench step`
gives the trainer), viewed at the level each D step.
"""
import argparse
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---- protobuf text format: pbtxt.py, shared by the peers ---------------------------------------------

from pbtxt import parse_pbtxt, get_field as _get, get_int as _int, get_float as _float, as_bool as _bool  # noqa: E402,F401
import peer_common as pc  # noqa: E402


# ---- defaults (mirror of ApplyCvgDefaults in src/models/cvg/config.cc) --------------------------


def _log2(v):
    n = 0
    while v > 1:
        v >>= 1
        n += 1
    return n


def _default_g_mults(level, units):
    m = [8, 8, 4, 2] if level == 0 else ([8, 4, 4, 4, 2, 1] if units == 6 else [8, 8, 4, 2, 1])
    m = m + [1] * max(0, units - len(m))
    return m[:max(units, 1)]


def _disc(d, level, res):
    d = d or {}
    base = _int(d, "base_channels") or (128 if level == 0 else 96)
    mults = [int(v) for v in d.get("channel_multipliers", [])]
    if not mults:
        mults = [16, 16, 8, 4, 2] if level == 0 else ([1, 2, 4, 8, 16, 16] if res <= 128 else [1, 2, 4, 8, 8, 16, 16])
    return {"base": base, "mults": mults, "down": [_bool(v) for v in d.get("downsample", [])],
            "blocks_3d": _int(d, "blocks_3d") or min(2, len(mults)),
            "down_t": _bool(_get(d, "downsample_time", "false"))}


def cvg_config(c):
    cfg = {"num_classes": _int(c, "num_classes"), "channels": _int(c, "image_channels") or 3,
           "emb": _int(c, "class_embedding_dim") or 128,
           "per_location": _get(c, "score_reduction", "PER_LOCATION") in ("PER_LOCATION", "0"),
           "projection": not _bool(_get(c, "no_class_projection", "false")),
           "sn_iters": _int(c, "sn_iterations") or 1,
           "sn_g": not _bool(_get(c, "no_spectral_norm_g", "false")),
           "eps": _float(c, "bn_eps") or 1e-5, "momentum": _float(c, "bn_momentum") or 0.1}
    levels = []
    for i, lv in enumerate(c.get("levels", [])):
        g = (lv.get("generator") or [{}])[0]
        L = {"res": _int(lv, "resolution"), "frames": _int(lv, "frames"),
             "tu": _int(lv, "temporal_upsample") or (2 if i > 0 else 1),
             "window": _int(lv, "window_frames"), "spatial_frames": _int(lv, "spatial_frames"),
             "has_matching": i > 0 and not _bool(_get(lv, "no_matching_discriminator", "false"))}
        L["g_base"] = _int(g, "base_channels") or 128
        L["stem"] = _int(g, "stem_resolution") or 4
        L["z"] = _int(g, "z_dim") or 128
        mults = [int(v) for v in g.get("channel_multipliers", [])]
        if not mults:
            ups = _log2(L["res"] // L["stem"])
            mults = _default_g_mults(i, ups + 1 if i == 0 else ups)
        L["g_mults"] = mults
        up = [_bool(v) for v in g.get("upsample", [])]
        if len(up) != len(mults):
            up = [True] * len(mults)
            if i == 0:
                up[-1] = False
        L["g_up"] = up
        if i > 0 and not L["frames"]:
            L["frames"] = levels[-1]["frames"] * L["tu"]
        for name in ("spatial", "temporal", "matching"):
            L[name] = _disc((lv.get(name) or [{}])[0], i, L["res"])
        levels.append(L)
    # frame_skip: the last level's defaults to 1, level i-1's to level i's x temporal_upsample.
    for i in reversed(range(len(levels))):
        L = levels[i]
        L["skip"] = _int(c["levels"][i], "frame_skip") or (1 if i == len(levels) - 1
                                                           else levels[i + 1]["skip"] * levels[i + 1]["tu"])
    for i, L in enumerate(levels):
        if i == 0:
            L["train_frames"], L["in_frames"], L["in_res"] = L["frames"], 0, 0
        else:
            P = levels[i - 1]
            L["in_frames"] = L["window"] or P["frames"]
            L["train_frames"] = L["in_frames"] * L["tu"]
            L["in_res"] = P["res"]
        L["spatial_frames"] = L["spatial_frames"] or max(1, min(8, L["train_frames"]))
    cfg["levels"] = levels
    return cfg


# ---- layers (mirror of src/nn) ---------------------------------------------------------------------


class SN:
    """BigGAN-style spectral norm: buffer u, power iterations under no-grad, u written back in training."""

    def sn_init(self, rows, enabled, iters):
        self.sn_enabled, self.sn_iters = enabled, iters
        if enabled:
            self.register_buffer("u", F.normalize(torch.randn(rows), dim=0, eps=1e-12))
            self.register_buffer("sv", torch.ones(()))

    def W_(self):
        w = self.weight
        if not self.sn_enabled:
            return w
        mat = w.reshape(w.size(0), -1)
        # The power iteration and sigma run outside autocast (fp32), as framecast's bf16 step does.
        on = w.device.type in ("cpu", "cuda") and torch.is_autocast_enabled(w.device.type)
        fp32 = torch.autocast(w.device.type, enabled=False) if on else _nullctx()
        with fp32:
            with torch.no_grad():
                u = self.u
                for _ in range(self.sn_iters):
                    v = F.normalize(mat.t() @ u, dim=0, eps=1e-12)
                    u = F.normalize(mat @ v, dim=0, eps=1e-12)
                if self.training:
                    self.u.copy_(u)
            sigma = torch.dot(u, mat @ v)
        if self.training:
            with torch.no_grad():
                self.sv.copy_(sigma)
        return w / sigma


class SNLinear(nn.Linear, SN):
    def __init__(self, i, o, bias=True, sn=(True, 1)):
        nn.Linear.__init__(self, i, o, bias=bias)
        self.sn_init(o, *sn)

    def forward(self, x):
        return F.linear(x, self.W_(), self.bias)


class SNConv2d(nn.Conv2d, SN):
    def __init__(self, i, o, k, sn=(True, 1)):
        nn.Conv2d.__init__(self, i, o, k, padding=k // 2)
        self.sn_init(o, *sn)

    def forward(self, x):
        return F.conv2d(x, self.W_(), self.bias, 1, self.padding)


class SNConv3d(nn.Conv3d, SN):
    def __init__(self, i, o, k, sn=(True, 1)):
        k = (k, k, k) if isinstance(k, int) else k
        nn.Conv3d.__init__(self, i, o, k, padding=tuple(v // 2 for v in k))
        self.sn_init(o, *sn)

    def forward(self, x):
        return F.conv3d(x, self.W_(), self.bias, 1, self.padding)


class SNEmbedding(nn.Embedding, SN):
    def __init__(self, n, d, sn=(True, 1)):
        nn.Embedding.__init__(self, n, d)
        self.sn_init(n, *sn)

    def forward(self, y):
        return F.embedding(y, self.W_())


class TimeBN(nn.Module):
    """Batch norm with statistics per (t, c) of [B, T, C, *] (framecast's dist::SyncBatchNorm)."""

    def __init__(self, c, t, affine, eps, momentum):
        super().__init__()
        self.c, self.t, self.eps, self.momentum = c, t, eps, momentum
        self.weight = nn.Parameter(torch.ones(c)) if affine else None
        self.bias = nn.Parameter(torch.zeros(c)) if affine else None
        self.register_buffer("running_mean", torch.zeros(t * c))
        self.register_buffer("running_var", torch.ones(t * c))

    def forward(self, x):
        B = x.size(0)
        w = self.weight.repeat(self.t) if self.weight is not None else None
        b = self.bias.repeat(self.t) if self.bias is not None else None
        y = F.batch_norm(x.reshape(B, self.t * self.c, -1), self.running_mean, self.running_var, w, b,
                         self.training, self.momentum, self.eps)
        return y.view(x.shape)


class CBN(nn.Module):
    def __init__(self, c, d, t, cfg, sn):
        super().__init__()
        self.bn = TimeBN(c, t, False, cfg["eps"], cfg["momentum"])
        self.gain = SNLinear(d, c, bias=False, sn=sn)
        self.bias = SNLinear(d, c, bias=False, sn=sn)

    def forward(self, x, y):
        shape = [x.size(0), 1, x.size(2)] + [1] * (x.dim() - 3)
        return self.bn(x) * (1 + self.gain(y).view(shape)) + self.bias(y).view(shape)


def per_frame(m, x):
    B, T = x.shape[:2]
    y = m(x.reshape(B * T, *x.shape[2:]))
    return y.view(B, T, *y.shape[1:])


class ConvGRU(nn.Module):
    def __init__(self, i, h, sn):
        super().__init__()
        self.hid = h
        self.gates = SNConv2d(h + i, 2 * h, 3, sn=sn)
        self.candidate = SNConv2d(i + h, h, 3, sn=sn)

    def forward(self, x):
        B, T, _, H, W = x.shape
        h = x.new_zeros(B, self.hid, H, W)
        out = []
        for t in range(T):
            xt = x[:, t]
            r, u = torch.sigmoid(self.gates(torch.cat([h, xt], 1))).chunk(2, 1)
            c = torch.relu(self.candidate(torch.cat([xt, r * h], 1)))
            h = u * h + (1 - u) * c
            out.append(h)
        return torch.stack(out, 1)


class SepConv3d(nn.Module):
    def __init__(self, i, o, sn):
        super().__init__()
        self.temporal = SNConv3d(i, o, (3, 1, 1), sn=sn)
        self.spatial = SNConv3d(o, o, (1, 3, 3), sn=sn)

    def forward(self, x):
        return self.spatial(self.temporal(x.transpose(1, 2))).transpose(1, 2)


class GBlock(nn.Module):
    def __init__(self, i, o, d, t, up, sep, cfg, sn):
        super().__init__()
        self.up, self.sep = up, sep
        self.bn1, self.bn2 = CBN(i, d, t, cfg, sn), CBN(o, d, t, cfg, sn)
        if sep:
            self.conv1, self.conv2 = SepConv3d(i, o, sn), SepConv3d(o, o, sn)
        else:
            self.conv1, self.conv2 = SNConv2d(i, o, 3, sn=sn), SNConv2d(o, o, 3, sn=sn)
        self.skip = SNConv2d(i, o, 1, sn=sn) if i != o else None

    def upsample(self, x):
        if not self.up:
            return x
        B, T, C, H, W = x.shape
        return F.interpolate(x.reshape(B * T, C, H, W), size=(2 * H, 2 * W), mode="nearest").view(B, T, C, 2 * H, 2 * W)

    def conv(self, m, x):
        return m(x) if self.sep else per_frame(m, x)

    def forward(self, x, y):
        h = self.conv(self.conv1, self.upsample(torch.relu(self.bn1(x, y))))
        h = self.conv(self.conv2, torch.relu(self.bn2(h, y)))
        s = per_frame(self.skip, x) if self.skip is not None else x
        return h + self.upsample(s)


class DBlock(nn.Module):
    def __init__(self, i, o, three_d, down, down_t, preact, sn):
        super().__init__()
        Conv = SNConv3d if three_d else SNConv2d
        self.three_d, self.down, self.down_t, self.preact = three_d, down, down_t, preact
        self.conv1, self.conv2 = Conv(i, o, 3, sn=sn), Conv(o, o, 3, sn=sn)
        self.skip = Conv(i, o, 1, sn=sn) if (i != o or down or down_t) else None

    def pool(self, x):
        if self.three_d:
            if not (self.down or self.down_t):
                return x
            return F.avg_pool3d(x, (2 if self.down_t else 1, 2 if self.down else 1, 2 if self.down else 1))
        return F.avg_pool2d(x, 2) if self.down else x

    def forward(self, x):
        h = torch.relu(x) if self.preact else x
        h = self.pool(self.conv2(torch.relu(self.conv1(h))))
        if self.skip is None:
            return h + x
        s = self.pool(self.skip(x)) if self.preact else self.skip(self.pool(x))
        return h + s


# ---- CVG networks (mirror of src/models/cvg) -------------------------------------------------------


class Generator(nn.Module):
    def __init__(self, cfg, level, frames=None):
        """frames: output frames (default the level's training length; the full length is the
        inference copy framecast unrolls after a level's training, level<k>/G_unrolled)."""
        super().__init__()
        L = cfg["levels"][level]
        self.level, self.ncls = level, cfg["num_classes"]
        sn = (cfg["sn_g"], cfg["sn_iters"])
        self.z = L["z"]
        cond = L["z"] + (cfg["emb"] if self.ncls > 0 else 0)
        if self.ncls > 0:
            self.embed = SNEmbedding(self.ncls, cfg["emb"], sn=(False, 1))
        T = frames or L["train_frames"]
        self.T, self.tu, self.in_res, self.C = T, L["tu"], L["in_res"], cfg["channels"]
        base, mults, s = L["g_base"], L["g_mults"], L["stem"]
        self.c0, self.s = base * mults[0], s
        self.stem = SNLinear(cond, self.c0 * s * s, sn=sn)
        self.grus, self.blocks, self.inject, self.block_res = nn.ModuleList(), nn.ModuleList(), nn.ModuleList(), []
        c_prev, res = self.c0, s
        for k, m in enumerate(mults):
            c = base * m
            if level == 0:
                self.grus.append(ConvGRU(c_prev, c_prev, sn))
            else:
                self.blocks.append(GBlock(c_prev, c_prev, cond, T, False, True, cfg, sn))
                self._add_inject(c_prev, res, sn)
            if L["g_up"][k]:
                res *= 2
            self.blocks.append(GBlock(c_prev, c, cond, T, L["g_up"][k], False, cfg, sn))
            if level > 0:
                self._add_inject(c, res, sn)
            self.blocks.append(GBlock(c, c, cond, T, False, False, cfg, sn))
            if level > 0:
                self._add_inject(c, res, sn)
            c_prev = c
        self.head_bn = TimeBN(c_prev, T, True, cfg["eps"], cfg["momentum"])
        self.head_conv = SNConv2d(c_prev, self.C, 3, sn=sn)

    def _add_inject(self, width, res, sn):
        self.block_res.append(res)
        self.inject.append(SNConv2d(self.C, width, 1, sn=sn) if res <= self.in_res else nn.Identity())

    def forward(self, z, y, low=None):
        cond = torch.cat([z, self.embed(y)], 1) if self.ncls > 0 else z
        B, s, T = z.size(0), self.s, self.T
        h = self.stem(cond).view(B, 1, self.c0, s, s).expand(B, T, self.c0, s, s).contiguous()
        if self.level == 0:
            for k, gru in enumerate(self.grus):
                h = gru(h)
                h = self.blocks[2 * k](h, cond)
                h = self.blocks[2 * k + 1](h, cond)
        else:
            T_in = low.size(1)
            idx = torch.arange(T, device=low.device) * T_in // T
            lowf = low.index_select(1, idx).reshape(B * T, self.C, self.in_res, self.in_res)
            cache = {}
            for i, blk in enumerate(self.blocks):
                h = blk(h, cond)
                inj = self.inject[i]
                if isinstance(inj, nn.Identity):
                    continue
                r = self.block_res[i]
                if r not in cache:
                    cache[r] = lowf if r == self.in_res else F.interpolate(lowf, size=(r, r), mode="nearest")
                h = h + inj(cache[r]).view(B, T, h.size(2), r, r)
        h = torch.relu(self.head_bn(h))
        return torch.tanh(per_frame(self.head_conv, h))


def _downsample(d, in_res):
    n = len(d["mults"])
    if len(d["down"]) == n:
        return d["down"]
    out, res = [False] * n, in_res
    for i in range(n - 1):
        if res > 1:
            out[i], res = True, res // 2
    return out


class Trunk(nn.Module):
    def __init__(self, d, in_ch, in_res, three_d_blocks, ncls, sn):
        super().__init__()
        down = _downsample(d, in_res)
        self.blocks, self.n3d = nn.ModuleList(), three_d_blocks
        c_prev = in_ch
        for i, m in enumerate(d["mults"]):
            c = d["base"] * m
            t3 = i < three_d_blocks
            self.blocks.append(DBlock(c_prev, c, t3, down[i], t3 and d["down_t"] and down[i], i > 0, sn))
            c_prev = c
        self.linear = SNLinear(c_prev, 1, sn=sn)
        self.projection = SNEmbedding(ncls, c_prev, sn=sn) if ncls > 0 else None

    def head(self, h, y):
        out = self.linear(h).squeeze(1)
        if self.projection is not None:
            out = out + (self.projection(y) * h).sum(1)
        return out


class SpatialD(Trunk):
    def forward(self, clip, idx, y):
        B, k = idx.shape
        h = clip.gather(1, idx.view(B, k, 1, 1, 1).expand(B, k, *clip.shape[2:])).reshape(B * k, *clip.shape[2:])
        for b in self.blocks:
            h = b(h)
        h = torch.relu(h).sum((2, 3))
        return self.head(h, y.repeat_interleave(k) if y is not None else None).view(B, k)


class TemporalD(Trunk):
    def __init__(self, *args, pool=True):
        super().__init__(*args)
        self.pool = pool

    def forward(self, video, y):
        B = video.size(0)
        h = video.transpose(1, 2)
        if self.pool:
            h = F.avg_pool3d(h, (1, 2, 2))
        for b in self.blocks[:self.n3d]:
            h = b(h)
        T = h.size(2)
        h = h.transpose(1, 2).reshape(B * T, h.size(1), h.size(3), h.size(4))
        for b in self.blocks[self.n3d:]:
            h = b(h)
        h = torch.relu(h).sum((2, 3))
        return self.head(h, y.repeat_interleave(T) if y is not None else None).view(B, T)


def pyramid_down(clip, k, r):
    x = clip[:, ::k] if k > 1 else clip
    B, T, C, H, W = x.shape
    if H == r and W == r:
        return x
    # In fp32 (antialiased bilinear has no bf16 CPU kernel), back to the input's dtype.
    y = F.interpolate(x.reshape(B * T, C, H, W).float(), size=(r, r), mode="bilinear", align_corners=False,
                      antialias=True)
    return y.to(x.dtype).view(B, T, C, r, r)


class Discriminators(nn.Module):
    def __init__(self, cfg, level):
        super().__init__()
        L = cfg["levels"][level]
        sn = (True, cfg["sn_iters"])
        ncls = cfg["num_classes"] if cfg["projection"] else 0
        C = cfg["channels"]
        self.per_location, self.tu, self.in_res = cfg["per_location"], L["tu"], L["in_res"]
        self.spatial = SpatialD(L["spatial"], C, L["res"], 0, ncls, sn)
        self.temporal = TemporalD(L["temporal"], C, L["res"] // 2, L["temporal"]["blocks_3d"], ncls, sn, pool=True)
        self.matching = (TemporalD(L["matching"], 2 * C, L["in_res"], L["matching"]["blocks_3d"], ncls, sn, pool=False)
                         if L["has_matching"] else None)

    def forward(self, clip, low, y, idx):
        def red(s):
            return s if self.per_location else s.sum(1, keepdim=True)
        out = [red(self.spatial(clip, idx, y)), red(self.temporal(clip, y))]
        if self.matching is not None:
            out.append(red(self.matching(torch.cat([low, pyramid_down(clip, self.tu, self.in_res)], 2), y)))
        return torch.cat(out, 1)


def ortho_init(m):
    for name, p in m.named_parameters():
        if name.endswith("weight") and p.dim() >= 2:
            nn.init.orthogonal_(p)
        elif name.endswith("bias"):
            nn.init.zeros_(p)


def count(m):
    return sum(p.numel() for p in m.parameters())


# ---- the timed iteration ----------------------------------------------------------------------------


def sample_frames(B, T, k, device):
    return torch.rand(B, T, device=device).argsort(1)[:, :k].sort(1).values


def crop(x, k):
    B, T = x.shape[:2]
    if k >= T:
        return x
    s = torch.randint(0, T - k + 1, (B,), device=x.device)
    idx = (s.view(B, 1) + torch.arange(k, device=x.device)).view(B, k, 1, 1, 1).expand(B, k, *x.shape[2:])
    return x.gather(1, idx)


class Iteration:
    """One CVG iteration of level `lvl` (0-based) as the framecast trainer runs it
    (src/train/cvg_family.cc, CvgReplica::Step): per D step the fixed real batch viewed at the level
    (PyramidDown to the level's frame skip and resolution, a random train_frames window, its low-res
    view) and fresh fakes under no-grad (fresh z and uniform labels; frozen levels in eval mode at
    their training length on random windows); hinge losses; then one G step with D frozen."""

    def __init__(self, run, cfg, lvl, B, dev, precision="fp32", compile_=False, init=True):
        self.cfg, self.lvl, self.B, self.dev, self.precision = cfg, lvl, B, dev, precision
        L = self.L = cfg["levels"][lvl]
        last = cfg["levels"][-1]
        data = _get(run, "data", {}) or {}
        self.T_full = _int(data, "context_frames") + _int(data, "predicted_frames") or last["frames"]
        self.ratio = L["skip"] // last["skip"]
        with dev if dev.type == "meta" else _nullctx():
            G, D = Generator(cfg, lvl).to(dev), Discriminators(cfg, lvl).to(dev)
            frozen = []
            for j in range(lvl):
                f = Generator(cfg, j).to(dev).eval()
                f.requires_grad_(False)
                frozen.append(f)
        if init:
            ortho_init(G)
            ortho_init(D)
        self.G, self.D, self.frozen = G, D, frozen
        self.cG, self.cD, *self.cfrozen = pc.compile_modules([G, D] + frozen, compile_)
        lrs = {}
        for o in run.get("optimizers", []):
            lrs[_get(o, "network")] = (_float(o, "lr"), _get(o, "adam", {}) or {})

        def adam(params, name, lr_default):
            lr, ad = lrs.get(name, (lr_default, {}))
            return torch.optim.Adam(params, lr=lr, betas=(_float(ad, "beta1", 0.0), _float(ad, "beta2", 0.999) or 0.999),
                                    eps=_float(ad, "eps", 0.0) or 1e-8)

        self.opt_g = adam(G.parameters(), f"level{lvl + 1}/G", 1e-4)
        self.opt_d = adam(D.parameters(), f"level{lvl + 1}/D", 5e-4)
        ncls, C, R = cfg["num_classes"], cfg["channels"], last["res"]
        # The fixed real batch (framecast's fixed_batch): [0, 1] clips of the last level's full length.
        self.full = torch.rand(B, self.T_full, C, R, R, device=dev)
        self.real_y = torch.randint(0, ncls, (B,), device=dev) if ncls > 0 else None

    def labels(self):
        n = self.cfg["num_classes"]
        return torch.randint(0, n, (self.B,), device=self.dev) if n > 0 else None

    def fake_input(self, y):
        if self.lvl == 0:
            return None
        with torch.no_grad():
            x = None
            for j, f in enumerate(self.cfrozen):
                if j > 0:
                    x = crop(x, self.cfg["levels"][j]["in_frames"])
                x = f(torch.randn(self.B, self.frozen[j].z, device=self.dev), y, x)
            return crop(x, self.L["in_frames"])

    def real_batch(self):
        L = self.L
        x = pyramid_down(self.full * 2 - 1, self.ratio, L["res"])
        x = crop(x, L["train_frames"])
        low = pyramid_down(x, L["tu"], L["in_res"]) if self.lvl > 0 else None
        return x, low

    def d_step(self, step_optimizer=True):
        B, L, dev, T, k = self.B, self.L, self.dev, self.L["train_frames"], self.L["spatial_frames"]
        for p in self.D.parameters():
            p.requires_grad_(True)
        y = self.labels()
        with pc.autocast(dev, self.precision):
            real, real_low = self.real_batch()
            low = self.fake_input(y)
            with torch.no_grad():
                fake = self.cG(torch.randn(B, L["z"], device=dev), y, low)
            s_real = self.cD(real, real_low, self.real_y, sample_frames(B, T, k, dev))
            s_fake = self.cD(fake, low, y, sample_frames(B, T, k, dev))
            loss_d = torch.relu(1 - s_real).mean() + torch.relu(1 + s_fake).mean()
        self.opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        if step_optimizer:
            self.opt_d.step()
        return loss_d

    def g_step(self, step_optimizer=True):
        B, L, dev, T, k = self.B, self.L, self.dev, self.L["train_frames"], self.L["spatial_frames"]
        for p in self.D.parameters():
            p.requires_grad_(False)
        y = self.labels()
        with pc.autocast(dev, self.precision):
            low = self.fake_input(y)
            fake = self.cG(torch.randn(B, L["z"], device=dev), y, low)
            loss_g = -self.cD(fake, low, y, sample_frames(B, T, k, dev)).mean()
        self.opt_g.zero_grad(set_to_none=True)
        loss_g.backward()
        if step_optimizer:
            self.opt_g.step()
        return loss_g

    def run(self):
        """One iteration; returns the last D loss and the G loss (tensors: no host synchronisation)."""
        for _ in range(2):
            loss_d = self.d_step()
        return loss_d, self.g_step()


def _nullctx():
    import contextlib
    return contextlib.nullcontext()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config")
    p.add_argument("--level", type=int, default=1, help="1-based level to train")
    p.add_argument("--batch", type=int, default=0, help="per-process batch; default data.global_batch")
    pc.add_common_args(p)
    a = p.parse_args()
    with open(a.config) as f:
        run = parse_pbtxt(f.read())
    model = _get(run, "model", {}) or {}
    if "cvg" not in model:
        sys.exit(f"{a.config}: model.cvg: missing (not a CVG config)")
    cfg = cvg_config(_get(model, "cvg"))
    lvl = a.level - 1
    if not 0 <= lvl < len(cfg["levels"]):
        sys.exit(f"--level {a.level}: the config has {len(cfg['levels'])} level(s)")
    B = a.batch or _int(_get(run, "data", {}) or {}, "global_batch", 8)
    if a.count_only:
        with torch.device("meta"):
            g, d = Generator(cfg, lvl), Discriminators(cfg, lvl)
        pc.emit({"params_g": count(g), "params_d": count(d)})
        return
    pc.setup(torch.device(a.device), a.threads)
    torch.manual_seed(0)
    def flops():
        def once(dev, b, counter):
            # The two D steps have the same shapes: one is counted, twice.
            it = Iteration(run, cfg, lvl, b, dev, a.precision, False, init=dev.type != "meta")
            it.d_step(step_optimizer=False)
            d = counter.get_total_flops()
            it.g_step(step_optimizer=False)
            return 2 * d + (counter.get_total_flops() - d)
        r = pc.count_flops(once, B)
        r["counted"] = "2 D steps + 1 G step of the level, forward and backward, incl. the frozen levels' forward"
        return r

    if a.count_flops:
        pc.emit(dict(flops(), level=a.level, batch=B))
        return
    dev = torch.device(a.device)
    mode = "compile" if a.compile else "eager"
    it = Iteration(run, cfg, lvl, B, dev, a.precision, a.compile)
    pc.reset_peak(dev)

    def step():
        loss_d, loss_g = it.run()
        return loss_d.item() + loss_g.item()  # framecast reads both losses every iteration too

    try:
        ms = pc.median_ms(step, a.warmup, a.steps, dev)
    except Exception as e:  # torch.compile unable to build on this machine
        if not a.compile:
            raise
        pc.emit(dict(flops() if a.with_flops else {}, mode=mode, error="torch.compile failed: " + pc.first_line(e)))
        return
    out = {"mode": mode, "ms_per_iter": round(ms, 3), "clips_per_s": round(B * 1000 / ms, 3),
           "peak_mem_mb": round(pc.peak_mem_mb(dev), 1), "params_g": count(it.G), "params_d": count(it.D),
           "level": a.level, "batch": B, "device": str(dev), "precision": a.precision}
    if a.with_flops:  # after the peak was read
        del it
        out.update(flops())
    pc.emit(out)

if __name__ == "__main__":
    main()
