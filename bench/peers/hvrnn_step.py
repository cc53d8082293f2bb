"""PyTorch eager peer of the HVRNN model (src/models/hvrnn): one training step, timed.

Reads the same RunConfig text file as `framecast bench step CONFIG` (a small text-format parser;
the venv has no google.protobuf), applies the same defaults as ApplyHvrnnDefaults, builds the same
architecture (same modules, same widths, same parameter count), and times
forward_train + backward + Adam on random clips of the config's shapes.

  hvrnn_step.py CONFIG [--batch N] [--steps 5] [--warmup 2] [--threads 1] [--device cpu|cuda]
                 [--precision fp32|bf16] [--compile]
  hvrnn_step.py CONFIG --count-only     # prints {"params": N} and exits (meta device, no memory)
  hvrnn_step.py CONFIG --batch N --count-flops   # {"flops": N, "flops_method": ...}

Prints one JSON line: {"mode", "ms_per_step" (median), "sequences_per_s", "peak_mem_mb", "params"},
or {"mode": "compile", "error": why} when torch.compile cannot build on this machine.
peak_mem_mb is the CUDA allocator's peak on cuda and the process's peak RSS (ru_maxrss) on cpu.
"""
import argparse
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---- protobuf text format: pbtxt.py, shared by the peers ---------------------------------------------

from pbtxt import parse_pbtxt, get_field as _get, get_int as _int, get_float as _float, as_bool as _bool  # noqa: E402,F401
import peer_common as pc  # noqa: E402


# ---- defaults (mirror of ApplyHvrnnDefaults in src/models/hvrnn/config.cc) ------------------------


def default_width(r):
    """Default encoder/decoder width at resolution r (64x64 tables; 32 at 128, 16 at 256)."""
    if r >= 64:
        return max(16, 64 * 64 // r)
    return {32: 128, 16: 256}.get(r, 512)


def encoder_resolutions(size):
    res, r = [], size
    while r >= 8:
        res.append(r)
        r //= 2
    return res + [4, 1]


def hvrnn_config(h, data_context=1):
    c = {}
    c["image_channels"] = _int(h, "image_channels") or 3
    c["image_size"] = _int(h, "image_size") or 64
    res = encoder_resolutions(c["image_size"])
    c["res"] = res
    c["encoder_widths"] = [int(v) for v in h.get("encoder_widths", [])] or [default_width(r) for r in res]
    c["decoder_widths"] = [int(v) for v in h.get("decoder_widths", [])] or list(reversed(c["encoder_widths"]))
    rec = [_bool(v) for v in h.get("decoder_recurrent", [])]
    c["decoder_recurrent"] = rec + [False] * (len(res) - len(rec)) if rec else [True] * len(res)
    c["decoder_top_kernel"] = _int(h, "decoder_top_kernel") or 1
    lat = h.get("latents", [])
    if not lat:
        lat = [{"resolution": ["1"], "channels": ["128"]}, {"resolution": ["8"], "channels": ["512"]},
               {"resolution": ["32"], "channels": ["512"]}]
    c["latents"] = []
    for l in lat:
        r, ch = _int(l, "resolution"), _int(l, "channels")
        c["latents"].append({"res": r, "ch": ch, "hidden": _int(l, "hidden") or ch,
                             "kernel": _int(l, "kernel") or (1 if r == 1 else 3)})
    c["no_dense"] = _bool(_get(h, "no_dense", "false"))
    c["groups"] = _int(h, "groups") or 16
    c["gn_on_dist_head"] = not _bool(_get(h, "no_gn_on_dist_head", "false"))
    c["zero_dist_head"] = not _bool(_get(h, "random_init_dist_head", "false"))
    c["bernoulli"] = _get(h, "likelihood", "GAUSSIAN") in ("BERNOULLI", "1")
    c["gaussian_sigma"] = _float(h, "gaussian_sigma") or 1.0
    c["context_init"] = _get(h, "context_init", "LAST")
    # CONCAT: init nets see every context frame (model.hvrnn.context_frames, else the data's).
    concat = c["context_init"] in ("CONCAT", "2")
    c["init_frames"] = (_int(h, "context_frames") or data_context) if concat else 1
    c["posterior_sees_previous_frame"] = _bool(_get(h, "posterior_sees_previous_frame", "false"))
    c["sigma_floor"] = _float(h, "sigma_floor") or 1e-4
    return c


# ---- layers (mirror of src/models/hvrnn/*.h) ------------------------------------------------------


def pad_same(x, k):
    """Zero padding that keeps the size for a stride-1 k x k conv (asymmetric for even k)."""
    lo, hi = (k - 1) // 2, k // 2
    return F.pad(x, (lo, hi, lo, hi)) if k > 1 else x


class ConvLSTMCell(nn.Module):
    def __init__(self, cin, hidden, k, groups):
        super().__init__()
        self.k = k
        self.conv = nn.Conv2d(cin + hidden, 4 * hidden, k)
        self.norm = nn.GroupNorm(groups, 4 * hidden)

    def forward(self, x, h, c):
        g = self.norm(self.conv(pad_same(torch.cat([x, h], 1), self.k)))
        i, f, o, gg = g.chunk(4, 1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, c


class ResBlock(nn.Module):
    def __init__(self, cin, cout, groups, first_kernel=3):
        super().__init__()
        self.k = first_kernel
        self.conv1 = nn.Conv2d(cin, cout, first_kernel, padding=1 if first_kernel == 3 else 0)
        self.norm1 = nn.GroupNorm(groups, cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, cout)
        self.skip = None
        if first_kernel != 3:
            self.skip = nn.Conv2d(cin, cout, first_kernel)
        elif cin != cout:
            self.skip = nn.Conv2d(cin, cout, 1)

    def forward(self, x):
        y = self.norm1(self.conv1(F.relu(x)))
        y = self.norm2(self.conv2(F.relu(y)))
        return (x if self.skip is None else self.skip(x)) + y


class UpConv(nn.Module):
    def __init__(self, cin, cout, groups, from_1x1):
        super().__init__()
        self.conv = nn.ConvTranspose2d(cin, cout, 4, stride=1 if from_1x1 else 2, padding=0 if from_1x1 else 1)
        self.norm = nn.GroupNorm(groups, cout)

    def forward(self, x):
        return F.relu(self.norm(self.conv(x)))


class ConvGnRelu(nn.Module):
    def __init__(self, cin, cout, k, groups):
        super().__init__()
        self.k = k
        self.conv = nn.Conv2d(cin, cout, k)
        self.norm = nn.GroupNorm(groups, cout)

    def forward(self, x):
        return F.relu(self.norm(self.conv(pad_same(x, self.k))))


class InitNet(nn.Module):
    def __init__(self, cin, hidden, groups):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, hidden, 1)
        self.norm1 = nn.GroupNorm(groups, hidden)
        self.conv2 = nn.Conv2d(hidden, 2 * hidden, 1)
        self.norm2 = nn.GroupNorm(groups, 2 * hidden)

    def forward(self, x):
        y = self.norm2(self.conv2(F.relu(self.norm1(self.conv1(x)))))
        return y.chunk(2, 1)


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        res, w, g = c["res"], c["encoder_widths"], c["groups"]
        n = len(res)
        self.conv_in = nn.Conv2d(c["image_channels"], w[0], 3, padding=1)
        self.stages = nn.ModuleList()
        self.stages.append(nn.Sequential(ResBlock(w[0], w[0], g)))
        for i in range(1, n - 2):
            self.stages.append(nn.Sequential(ResBlock(w[i - 1], w[i], g), ResBlock(w[i], w[i], g)))
        self.stages.append(nn.Sequential())  # 4x4: max-pool only
        self.stages.append(nn.Sequential(ResBlock(w[n - 2], w[n - 1], g, first_kernel=4), ResBlock(w[n - 1], w[n - 1], g)))
        self.res = res

    def forward(self, x):
        out = {}
        h = self.stages[0](self.conv_in(x))
        out[self.res[0]] = h
        for i in range(1, len(self.res)):
            if self.res[i] != 1:
                h = F.max_pool2d(h, 2)
            h = self.stages[i](h)
            out[self.res[i]] = h
        return out


class LatentNet(nn.Module):
    """One level of the prior or the posterior: 1x1 conv + GN, ConvLSTM, 1x1 conv (+ GN) head."""

    def __init__(self, cin, lat, groups, gn_head, floor, zero_head=False):
        super().__init__()
        hid = lat["hidden"]
        self.conv_in = nn.Conv2d(cin, hid, 1)
        self.norm_in = nn.GroupNorm(groups, hid)
        self.cell = ConvLSTMCell(hid, hid, lat["kernel"], groups)
        self.head = nn.Conv2d(hid, 2 * lat["ch"], 1)
        self.norm_head = nn.GroupNorm(groups, 2 * lat["ch"]) if gn_head else None
        self.floor = floor
        if zero_head:  # prior = posterior at step 0 (framecast's random_init_dist_head: false)
            with torch.no_grad():
                if self.norm_head is not None:
                    self.norm_head.weight.zero_()
                else:
                    self.head.weight.zero_()
                    self.head.bias.zero_()

    def forward(self, x, h, c):
        h, c = self.cell(self.norm_in(self.conv_in(x)), h, c)
        p = self.head(h)
        if self.norm_head is not None:
            p = self.norm_head(p)
        mu, s = p.chunk(2, 1)
        return mu, F.softplus(s) + self.floor, h, c


class Hvrnn(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        g = c["groups"]
        res = c["res"]
        self.enc_w = dict(zip(res, c["encoder_widths"]))
        self.dec_res = list(reversed(res))
        self.encoder = Encoder(c)
        lats = c["latents"]
        self.prior, self.posterior = nn.ModuleList(), nn.ModuleList()
        self.prior_init, self.posterior_init = nn.ModuleList(), nn.ModuleList()
        for l, lat in enumerate(lats):
            parents = lats[:l] if not c["no_dense"] else lats[max(0, l - 1):l]
            zin = sum(p["ch"] for p in parents)
            fe = self.enc_w[lat["res"]]
            self.prior.append(LatentNet(fe + zin, lat, g, c["gn_on_dist_head"], c["sigma_floor"],
                                        c["zero_dist_head"]))
            pin = fe * (2 if c["posterior_sees_previous_frame"] else 1) + zin
            self.posterior.append(LatentNet(pin, lat, g, c["gn_on_dist_head"], c["sigma_floor"],
                                            c["zero_dist_head"]))
            self.prior_init.append(InitNet(fe * c["init_frames"], lat["hidden"], g))
            self.posterior_init.append(InitNet(fe * c["init_frames"], lat["hidden"], g))
        dw, rec = c["decoder_widths"], c["decoder_recurrent"]
        self.dec_stages = nn.ModuleList()
        self.upconvs = nn.ModuleList()
        self.dec_init = nn.ModuleList()
        for j, r in enumerate(self.dec_res):
            zin = sum(l["ch"] for l in lats if l["res"] == r)
            cin = self.enc_w[r] + zin + (dw[j] if j > 0 else 0)
            k = c["decoder_top_kernel"] if r == 1 else 3
            if j > 0:
                self.upconvs.append(UpConv(dw[j - 1], dw[j], g, self.dec_res[j - 1] == 1))
            if rec[j]:
                self.dec_stages.append(ConvLSTMCell(cin, dw[j], k, g))
                self.dec_init.append(InitNet(self.enc_w[r] * c["init_frames"], dw[j], g))
            else:
                self.dec_stages.append(ConvGnRelu(cin, dw[j], k, g))
        self.out1 = ConvGnRelu(dw[-1], dw[-1], 3, g)
        self.out2 = nn.Conv2d(dw[-1], c["image_channels"], 3, padding=1)

    def forward_train(self, clip, context, beta, noise=None):
        c = self.c
        B, N, C, H, W = clip.shape
        D, T = context, N - context
        feats = self.encoder(clip.reshape(B * N, C, H, W))
        feats = {r: f.reshape(B, N, *f.shape[1:]) for r, f in feats.items()}

        def ctx(r):
            if c["context_init"] in ("MEAN", "1"):
                return feats[r][:, :D].mean(1)
            if c["context_init"] in ("CONCAT", "2"):
                return feats[r][:, :D].flatten(1, 2)
            return feats[r][:, D - 1]

        lats = c["latents"]
        ps = [list(net(ctx(l["res"]))) for net, l in zip(self.prior_init, lats)]
        qs = [list(net(ctx(l["res"]))) for net, l in zip(self.posterior_init, lats)]
        ds, k = [], 0
        for j, r in enumerate(self.dec_res):
            if c["decoder_recurrent"][j]:
                ds.append(list(self.dec_init[k](ctx(r))))
                k += 1
        nll = clip.new_zeros(B)
        kl_lv = [clip.new_zeros(B) for _ in lats]
        preds = []
        for t in range(T):
            prev = {r: f[:, D - 1 + t] for r, f in feats.items()}
            cur = {r: f[:, D + t] for r, f in feats.items()}
            zs = []
            for l, lat in enumerate(lats):
                r = lat["res"]
                parents = zs if not c["no_dense"] else zs[-1:]
                up = [F.interpolate(z, size=(r, r), mode="nearest") for z in parents]
                qin = [cur[r]] + ([prev[r]] if c["posterior_sees_previous_frame"] else []) + up
                mq, sq, qs[l][0], qs[l][1] = self.posterior[l](torch.cat(qin, 1), *qs[l])
                mp, sp, ps[l][0], ps[l][1] = self.prior[l](torch.cat([prev[r]] + up, 1), *ps[l])
                eps = noise(l, t, mq.shape) if noise else torch.randn_like(mq)
                zs.append(mq + sq * eps)
                kl = torch.log(sp / sq) + (sq * sq + (mq - mp) ** 2) / (2 * sp * sp) - 0.5
                kl_lv[l] = kl_lv[l] + kl.sum((1, 2, 3))
            logits = self.decode(prev, zs, ds)
            x = clip[:, D + t]
            if c["bernoulli"]:
                nll = nll + F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum((1, 2, 3))
            else:
                s = c["gaussian_sigma"]
                nll = nll + 0.5 * ((x - torch.sigmoid(logits)) ** 2).sum((1, 2, 3)) / (s * s)
            preds.append(torch.sigmoid(logits).detach())
        kl = sum(kl_lv)
        loss = (nll + beta * kl).mean()
        return loss, nll.mean(), kl.mean(), torch.stack(preds, 1)

    @torch.no_grad()
    def generate(self, context_frames, horizon, noise=None):
        """Hvrnn::generate: initial states from the context frames [B, D, C, H, W], then `horizon`
        frames from the prior, each frame's features feeding the next; returns the means
        [B, horizon, C, H, W] in [0, 1]. noise(level, t, shape) gives the standard normal draws
        (default torch.randn)."""
        c = self.c
        B, D, C, H, W = context_frames.shape
        feats = self.encoder(context_frames.reshape(B * D, C, H, W))
        feats = {r: f.reshape(B, D, *f.shape[1:]) for r, f in feats.items()}

        def ctx(r):
            if c["context_init"] in ("MEAN", "1"):
                return feats[r].mean(1)
            if c["context_init"] in ("CONCAT", "2"):
                return feats[r].flatten(1, 2)
            return feats[r][:, D - 1]

        lats = c["latents"]
        ps = [list(net(ctx(l["res"]))) for net, l in zip(self.prior_init, lats)]
        ds, k = [], 0
        for j, r in enumerate(self.dec_res):
            if c["decoder_recurrent"][j]:
                ds.append(list(self.dec_init[k](ctx(r))))
                k += 1
        prev = {r: f[:, D - 1] for r, f in feats.items()}
        frames = []
        for t in range(horizon):
            zs = []
            for l, lat in enumerate(lats):
                r = lat["res"]
                parents = zs if not c["no_dense"] else zs[-1:]
                up = [F.interpolate(z, size=(r, r), mode="nearest") for z in parents]
                mp, sp, ps[l][0], ps[l][1] = self.prior[l](torch.cat([prev[r]] + up, 1), *ps[l])
                eps = noise(l, t, mp.shape) if noise else torch.randn_like(mp)
                zs.append(mp + sp * eps)
            x = torch.sigmoid(self.decode(prev, zs, ds))
            frames.append(x)
            if t + 1 < horizon:
                prev = self.encoder(x)
        if not frames:
            return context_frames.new_empty(B, 0, C, H, W)
        return torch.stack(frames, 1)

    def decode(self, prev, zs, ds):
        c = self.c
        h, k = None, 0
        for j, r in enumerate(self.dec_res):
            parts = [prev[r]] + [z for z, l in zip(zs, c["latents"]) if l["res"] == r]
            if j > 0:
                parts = [self.upconvs[j - 1](h)] + parts
            x = torch.cat(parts, 1)
            if c["decoder_recurrent"][j]:
                ds[k][0], ds[k][1] = self.dec_stages[j](x, *ds[k])
                h = ds[k][0]
                k += 1
            else:
                h = self.dec_stages[j](x)
        return self.out2(self.out1(h))


def inert_weights(c, run):
    """Parameters per component, and the conv weights that never touch an input pixel.

    One teacher-forced forward of a random clip (batch 1, the config's context and 2 predicted
    frames) on the CPU; a conv tap is inert when the input window it reads is all zero padding in
    every call (a k x k kernel on a 1x1 map reads one real pixel: k*k - 1 taps are inert).
    """
    torch.manual_seed(0)
    m = Hvrnn(c)
    seen = {}  # conv -> bool tensor [kh, kw]: the tap read a non-zero value

    def hook(mod, inputs):
        x = inputs[0].detach()
        kh, kw = mod.kernel_size
        if kh == 1 and kw == 1:
            return
        ph, pw = mod.padding
        nz = F.pad((x != 0).any(0).any(0).float(), (pw, pw, ph, ph)) > 0  # [H, W], own padding
        ho, wo = nz.shape[0] - kh + 1, nz.shape[1] - kw + 1
        used = torch.zeros(kh, kw, dtype=torch.bool)
        for i in range(kh):
            for j in range(kw):
                used[i, j] = bool(nz[i:i + ho, j:j + wo].any())
        seen[mod] = seen.get(mod, torch.zeros_like(used)) | used

    for mod in m.modules():
        if isinstance(mod, nn.Conv2d):
            mod.register_forward_pre_hook(hook)
    data = _get(run, "data", {})
    D = _int(data, "context_frames") or 1
    clip = torch.rand(1, D + 2, c["image_channels"], c["image_size"], c["image_size"])
    with torch.no_grad():
        m.forward_train(clip, D, 1.0)
    out = {"params": sum(t.numel() for t in m.parameters()), "components": {}, "inert_convs": {}}
    for name, mod in m.named_modules():
        if mod in seen and not bool(seen[mod].all()):
            used = seen[mod]
            out["inert_convs"][name] = {"kernel": list(used.shape), "taps_used": int(used.sum()),
                                        "inert": mod.weight.numel() // used.numel() * int((~used).sum())}
    total_inert = 0
    for name, child in m.named_children():
        params = sum(t.numel() for t in child.parameters())
        inert = 0
        for mod in child.modules():
            if mod in seen:
                used = seen[mod]
                per_tap = mod.weight.numel() // used.numel()
                inert += per_tap * int((~used).sum())
        total_inert += inert
        out["components"][name] = {"params": params, "inert": inert}
    out["inert"] = total_inert
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config")
    p.add_argument("--batch", type=int, default=0, help="sequences per step (default: data.global_batch)")
    p.add_argument("--inert", action="store_true",
                   help="print parameters per component and the conv weights that never touch "
                        "an input pixel (one CPU forward), then exit")
    pc.add_common_args(p)
    a = p.parse_args()
    with open(a.config) as f:
        run = parse_pbtxt(f.read())
    model_msg = _get(run, "model", {})
    if "hvrnn" not in model_msg:
        sys.exit(f"{a.config}: model.hvrnn: missing (not an HVRNN config)")
    c = hvrnn_config(_get(model_msg, "hvrnn"), _int(_get(run, "data", {}), "context_frames") or 1)
    if a.count_only:
        with torch.device("meta"):
            m = Hvrnn(c)
        pc.emit({"params": sum(t.numel() for t in m.parameters())})
        return
    if a.inert:
        pc.emit(inert_weights(c, run))
        return
    pc.setup(torch.device(a.device), a.threads)
    torch.manual_seed(1234)
    data = _get(run, "data", {})
    D, T = _int(data, "context_frames"), _int(data, "predicted_frames")
    batch = a.batch or _int(data, "global_batch")
    def flops():
        def once(dev, b, counter):
            with dev:
                m = Hvrnn(c)
                clip = torch.rand(b, D + T, c["image_channels"], c["image_size"], c["image_size"])
            with pc.autocast(dev, a.precision):
                loss = m.forward_train(clip, D, 1.0)[0]
            loss.backward()
        r = pc.count_flops(once, batch)
        r["counted"] = "one step's forward_train and backward"
        return r

    if a.count_flops:
        pc.emit(dict(flops(), batch=batch))
        return
    dev = torch.device(a.device)
    m = Hvrnn(c).to(dev)
    o = (_get(run, "optimizers") or {})
    adam = _get(o, "adam", {})
    opt = torch.optim.Adam(m.parameters(), lr=_float(o, "lr", 1e-4) or 1e-4,
                           betas=(_float(adam, "beta1") or 0.9, _float(adam, "beta2") or 0.999),
                           eps=_float(adam, "eps") or 1e-8, weight_decay=_float(o, "weight_decay"))
    clip = torch.rand(batch, D + T, c["image_channels"], c["image_size"], c["image_size"], device=dev)
    forward_train = torch.compile(m.forward_train) if a.compile else m.forward_train
    mode = "compile" if a.compile else "eager"
    pc.reset_peak(dev)
    last = {}

    def step():
        opt.zero_grad(set_to_none=True)
        with pc.autocast(dev, a.precision):
            loss = forward_train(clip, D, 1.0)[0]
        loss.backward()
        opt.step()
        last["loss"] = loss.item()  # framecast reads the loss every step too

    try:
        ms = pc.median_ms(step, a.warmup, a.steps, dev)
    except Exception as e:  # torch.compile unable to build on this machine
        if not a.compile:
            raise
        pc.emit(dict(flops() if a.with_flops else {}, mode=mode, error="torch.compile failed: " + pc.first_line(e)))
        return
    out = {"mode": mode, "ms_per_step": round(ms, 3), "sequences_per_s": round(batch / (ms / 1e3), 3),
           "peak_mem_mb": round(pc.peak_mem_mb(dev), 1), "params": sum(t.numel() for t in m.parameters()),
           "loss": last.get("loss"), "precision": a.precision}
    if a.with_flops:  # after the peak was read
        out.update(flops())
    pc.emit(out)

if __name__ == "__main__":
    main()
