"""PyTorch eager peer of the SRVP model (src/models/srvp), written from specs/srvp.md.

Reads the same RunConfig text file as `framecast bench step CONFIG`, applies the same defaults as
ApplySrvpDefaults (and content_frames = data.context_frames when unset), and builds the same
architecture with the same module names, so framecast's parameter names are this state_dict's.

  srvp_step.py CONFIG [--batch N] [--steps 5] [--warmup 2] [--threads 1] [--device cpu|cuda]
  srvp_step.py CONFIG --count-only       # {"params": N}
  srvp_step.py CONFIG --count-flops      # {"flops": N, "flops_method": ...}
  srvp_step.py CONFIG --check FILE.pt    # one step from framecast's weights, frames and noise

--check reads a dict written by framecast's test (torch::pickle_save): "state/<name>" (every
parameter and buffer), "frames" [B, T, C, H, W] float64, "noise/<site>/<t>" (every draw the model
made), "loss", "grad/<name>". It recomputes the loss and the gradients in float64 from the same
weights and noise and prints {"loss", "loss_rel_diff", "max_grad_rel_diff", "worst"}; exit 1 when
the loss differs by more than 1e-9 relative or any gradient by more than 1e-7 relative (L2 norm of
the difference over the L2 norm), which float64 summation-order differences stay far below.

Timing mode prints one JSON line: {"mode", "ms_per_step" (median), "sequences_per_s",
"peak_mem_mb", "params", "loss"}.
"""
import argparse
import math
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from pbtxt import parse_pbtxt, get_field as _get, get_int as _int, get_float as _float, as_bool as _bool  # noqa: E402
import peer_common as pc  # noqa: E402

SITE_Y1, SITE_Z, SITE_ORDER, SITE_SKIP = 0, 1, 2, 3


def srvp_config(s, context):
    """Mirror of ApplySrvpDefaults (src/models/srvp/config.cc)."""
    def opt(name, default):
        v = s.get(name)
        return default if v is None else float(v[0] if isinstance(v, list) else v)
    c = {
        "nc": _int(s, "image_channels") or 1,
        "size": _int(s, "image_size") or 64,
        "vgg": str(_get(s, "backbone", "DCGAN")) == "VGG",
        "nf": _int(s, "base_filters") or 64,
        "nhx": _int(s, "frame_features") or 128,
        "ny": _int(s, "state_size") or 20,
        "nz": _int(s, "noise_size") or 20,
        "nh_inf": _int(s, "inference_hidden") or 256,
        "nl_inf": _int(s, "inference_layers") or 3,
        "nh_res": _int(s, "residual_hidden") or 512,
        "nl_res": _int(s, "residual_layers") or 4,
        "k": _int(s, "content_frames") or max(1, context),
        "euler": _int(s, "euler_steps") or 1,
        "dynamics": str(_get(s, "dynamics", "RESIDUAL")),
        "skip": _bool(_get(s, "skip_connections", False)),
        "no_content": _bool(_get(s, "no_content", False)),
        "no_noise": _bool(_get(s, "no_noise", False)),
        "lam": opt("residual_penalty", 1.0),
        "beta_y": opt("beta_y", 1.0),
        "beta_z": opt("beta_z", 1.0),
        "obs": _float(s, "obs_scale") or 1.0,
        "gain": _float(s, "residual_gain") or 1.41,
    }
    return c


class ConvBlock(nn.Module):
    def __init__(self, cin, cout, k, s, p, transposed, bn, act):
        super().__init__()
        conv = nn.ConvTranspose2d if transposed else nn.Conv2d
        self.conv = conv(cin, cout, k, s, p, bias=not bn)
        self.bn = nn.BatchNorm2d(cout) if bn else None
        self.act = act

    def forward(self, x):
        y = self.conv(x)
        if self.bn is not None:
            y = self.bn(y)
        if self.act == "lrelu":
            return F.leaky_relu(y, 0.2)
        if self.act == "tanh":
            return torch.tanh(y)
        if self.act == "sigmoid":
            return torch.sigmoid(y)
        return y


def conv3(cin, cout):
    return ConvBlock(cin, cout, 3, 1, 1, False, True, "lrelu")


class Encoder(nn.Module):
    def __init__(self, c):
        super().__init__()
        nf, nc, self.vgg = c["nf"], c["nc"], c["vgg"]
        L = nn.ModuleList
        if not self.vgg:
            self.stages = L([L([ConvBlock(nc, nf, 4, 2, 1, False, False, "lrelu")]),
                             L([ConvBlock(nf, 2 * nf, 4, 2, 1, False, True, "lrelu")]),
                             L([ConvBlock(2 * nf, 4 * nf, 4, 2, 1, False, True, "lrelu")]),
                             L([ConvBlock(4 * nf, 8 * nf, 4, 2, 1, False, True, "lrelu")])])
        else:
            self.stages = L([L([conv3(nc, nf), conv3(nf, nf)]),
                             L([conv3(nf, 2 * nf), conv3(2 * nf, 2 * nf)]),
                             L([conv3(2 * nf, 4 * nf), conv3(4 * nf, 4 * nf), conv3(4 * nf, 4 * nf)]),
                             L([conv3(4 * nf, 8 * nf), conv3(8 * nf, 8 * nf), conv3(8 * nf, 8 * nf)])])
        self.out = ConvBlock(8 * nf, c["nhx"], 4, 1, 0, False, True, "tanh")

    def forward(self, x):
        skips, h = [], x
        for i, stage in enumerate(self.stages):
            if self.vgg and i > 0:
                h = F.max_pool2d(h, 2)
            for b in stage:
                h = b(h)
            skips.append(h)
        if self.vgg:
            h = F.max_pool2d(h, 2)
        return self.out(h).flatten(1), skips


class Decoder(nn.Module):
    def __init__(self, c, nin):
        super().__init__()
        nf, nc, self.vgg, self.skip = c["nf"], c["nc"], c["vgg"], c["skip"]
        m = 2 if self.skip else 1
        self.add_module("in", ConvBlock(nin, 8 * nf, 4, 1, 0, True, True, "lrelu"))
        L = nn.ModuleList
        if not self.vgg:
            up = lambda a, b: ConvBlock(a, b, 4, 2, 1, True, True, "lrelu")  # noqa: E731
            self.stages = L([L([up(8 * nf * m, 4 * nf)]), L([up(4 * nf * m, 2 * nf)]),
                             L([up(2 * nf * m, nf)]),
                             L([ConvBlock(nf * m, nc, 4, 2, 1, True, False, "sigmoid")])])
        else:
            self.stages = L([L([conv3(8 * nf * m, 8 * nf), conv3(8 * nf, 8 * nf), conv3(8 * nf, 4 * nf)]),
                             L([conv3(4 * nf * m, 4 * nf), conv3(4 * nf, 4 * nf), conv3(4 * nf, 2 * nf)]),
                             L([conv3(2 * nf * m, 2 * nf), conv3(2 * nf, nf)]),
                             L([conv3(nf * m, nf), ConvBlock(nf, nc, 3, 1, 1, True, False, "sigmoid")])])

    def forward(self, x, skips):
        h = getattr(self, "in")(x[:, :, None, None])
        if self.vgg:
            h = F.interpolate(h, scale_factor=2, mode="nearest")
        n = len(self.stages)
        for i, stage in enumerate(self.stages):
            if self.skip:
                h = torch.cat([h, skips[n - 1 - i]], 1)
            for b in stage:
                h = b(h)
            if self.vgg and i + 1 < n:
                h = F.interpolate(h, scale_factor=2, mode="nearest")
        return h


class Mlp(nn.Module):
    def __init__(self, nin, nh, nout, layers):
        super().__init__()
        self.linears = nn.ModuleList(
            [nn.Linear(nin if i == 0 else nh, nout if i + 1 == layers else nh) for i in range(layers)])

    def forward(self, x):
        for i, l in enumerate(self.linears):
            x = l(F.relu(x) if i > 0 else x)
        return x


def scale(raw):
    return F.softplus(raw) + 1e-8


def kl(mq, sq, mp, sp):
    return torch.log(sp / sq) + (sq ** 2 + (mq - mp) ** 2) / (2 * sp ** 2) - 0.5


class Srvp(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        nhx, ny, nz, nh = c["nhx"], c["ny"], c["nz"], c["nh_inf"]
        nw = 0 if c["no_content"] else nh
        self.encoder = Encoder(c)
        self.decoder = Decoder(c, nw + ny)
        self.q_y = Mlp(c["k"] * nhx, nh, 2 * ny, c["nl_inf"])
        if not c["no_noise"]:
            self.inf_z = nn.LSTM(nhx, nh, batch_first=True)
            self.q_z = nn.Linear(nh, 2 * nz)
            self.p_z = Mlp(ny, c["nh_res"], 2 * nz, c["nl_res"])
        if c["dynamics"] == "GRU":
            self.gru = nn.GRUCell(nz, ny)
        else:
            self.dynamics = Mlp(ny + (0 if c["no_noise"] else nz), c["nh_res"], ny, c["nl_res"])
        if not c["no_content"]:
            self.w_proj = nn.Linear(nhx, nh)
            self.w_inf = nn.Linear(nh, nh)

    def advance(self, y, z, steps, penalty, states=None):
        dt = 1.0 / steps
        for _ in range(steps):
            if self.c["dynamics"] == "GRU":
                nxt = self.gru(z, y)
            else:
                f = self.dynamics(y if z is None else torch.cat([y, z], 1))
                nxt = y + dt * f if self.c["dynamics"] == "RESIDUAL" else f
            penalty = penalty + (nxt - y).norm(2, dim=1)
            y = nxt
            if states is not None:
                states.append(y)
        return y, penalty

    def forward_train(self, clip, noise):
        """noise(site, t, shape) -> standard normal draws; returns (loss, per-sample nll)."""
        c = self.c
        B, T = clip.shape[:2]
        k, nhx = c["k"], c["nhx"]
        feats, skips = self.encoder(clip.flatten(0, 1))
        feats = feats.view(B, T, nhx)
        mu_y, raw_y = self.q_y(feats[:, :k].reshape(B, k * nhx)).chunk(2, -1)
        s_y = scale(raw_y)
        y = mu_y + s_y * noise(SITE_Y1, 0, (B, c["ny"]))
        kl_y = kl(mu_y, s_y, torch.zeros_like(mu_y), torch.ones_like(s_y)).sum(1)
        w = None
        if not c["no_content"]:
            idx = noise(SITE_ORDER, 0, (B, T)).argsort(1)[:, :k]
            sel = feats.gather(1, idx[..., None].expand(B, k, nhx))
            w = torch.tanh(self.w_inf(F.relu(self.w_proj(sel)).sum(1)))
        hz = None if c["no_noise"] else self.inf_z(feats)[0]
        penalty = torch.zeros(B, dtype=clip.dtype, device=clip.device)
        kl_z = torch.zeros_like(penalty)
        states = [y]
        for t in range(1, T):
            z = None
            if not c["no_noise"]:
                mq, rq = self.q_z(hz[:, t]).chunk(2, -1)
                sq = scale(rq)
                z = mq + sq * noise(SITE_Z, t, (B, c["nz"]))
                mp, rp = self.p_z(y).chunk(2, -1)
                kl_z = kl_z + kl(mq, sq, mp, scale(rp)).sum(1)
            y, penalty = self.advance(y, z, c["euler"], penalty)
            states.append(y)
        ys = torch.stack(states, 1)
        dec_in = ys if w is None else torch.cat([w[:, None].expand(B, T, w.shape[1]), ys], 2)
        dec_skips = []
        if c["skip"]:
            f = noise(SITE_SKIP, 0, (B, T)).argmax(1)
            rows = torch.arange(B, device=clip.device) * T + f
            dec_skips = [s[rows][:, None].expand(B, T, *s.shape[1:]).flatten(0, 1) for s in skips]
        xhat = self.decoder(dec_in.flatten(0, 1), dec_skips).view(clip.shape)
        sigma = c["obs"]
        nll = (0.5 * ((clip - xhat) / sigma) ** 2 + math.log(sigma) + 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)
        per = nll + c["beta_y"] * kl_y + c["beta_z"] * kl_z + c["lam"] * penalty
        return per.mean(), nll

    @torch.no_grad()
    def generate(self, context, horizon, noise=None, euler_steps=0, every_substep=False):
        """Srvp::generate: y_1 and z from the posterior over the context frames [B, C0, C, H, W],
        then `horizon` frames from the prior, decoded and clamped to [0, 1]. noise(site, t, shape)
        gives the standard normal draws (default torch.randn); euler_steps 0 is the training dt."""
        c = self.c
        draw = noise or (lambda site, t, shape: torch.randn(shape, dtype=context.dtype, device=context.device))
        B, C0 = context.shape[:2]
        k, nhx = c["k"], c["nhx"]
        steps = euler_steps if euler_steps > 0 else c["euler"]
        if C0 < k:
            raise ValueError(f"srvp: generation needs at least {k} context frames, got {C0}")
        if steps != c["euler"] and c["dynamics"] != "RESIDUAL":
            raise ValueError("srvp: another dt needs dynamics RESIDUAL")
        feats, skips = self.encoder(context.flatten(0, 1))
        feats = feats.view(B, C0, nhx)
        mu_y, raw_y = self.q_y(feats[:, :k].reshape(B, k * nhx)).chunk(2, -1)
        y = mu_y + scale(raw_y) * draw(SITE_Y1, 0, (B, c["ny"]))
        w = None
        if not c["no_content"]:
            w = torch.tanh(self.w_inf(F.relu(self.w_proj(feats[:, C0 - k:])).sum(1)))
        last = []
        if c["skip"]:
            rows = torch.arange(B, device=context.device) * C0 + (C0 - 1)
            last = [s[rows] for s in skips]
        hz = None if c["no_noise"] else self.inf_z(feats)[0]
        zero = torch.zeros(B, dtype=context.dtype, device=context.device)
        for t in range(1, C0):
            z = None
            if not c["no_noise"]:
                mq, rq = self.q_z(hz[:, t]).chunk(2, -1)
                z = mq + scale(rq) * draw(SITE_Z, t, (B, c["nz"]))
            y, _ = self.advance(y, z, steps, zero)
        states = []
        for t in range(C0, C0 + horizon):
            z = None
            if not c["no_noise"]:
                mp, rp = self.p_z(y).chunk(2, -1)
                z = mp + scale(rp) * draw(SITE_Z, t, (B, c["nz"]))
            y, _ = self.advance(y, z, steps, zero, states if every_substep else None)
            if not every_substep:
                states.append(y)
        if not states:
            return context.new_empty(B, 0, *context.shape[2:])
        ys = torch.stack(states, 1)
        N = ys.shape[1]
        dec_in = ys if w is None else torch.cat([w[:, None].expand(B, N, w.shape[1]), ys], 2)
        dec_skips = [s[:, None].expand(B, N, *s.shape[1:]).flatten(0, 1) for s in last]
        x = self.decoder(dec_in.flatten(0, 1), dec_skips)
        return x.view(B, N, *x.shape[1:]).clamp(0, 1)


def load_config(path):
    with open(path) as f:
        run = parse_pbtxt(f.read())
    model_msg = _get(run, "model", {})
    if "srvp" not in model_msg:
        sys.exit(f"{path}: model.srvp: missing (not an SRVP config)")
    data = _get(run, "data", {})
    return run, srvp_config(_get(model_msg, "srvp"), _int(data, "context_frames")), data


def check(c, path):
    blob = torch.load(path, weights_only=False)
    m = Srvp(c).double()
    state = {k[len("state/"):]: v for k, v in blob.items() if k.startswith("state/")}
    missing = set(m.state_dict()) ^ set(state)
    if missing:
        sys.exit(f"{path}: state names differ from the peer's: {sorted(missing)[:8]}")
    m.load_state_dict(state)
    m.train()

    def noise(site, t, shape):
        key = f"noise/{site}/{t}"
        if key not in blob:
            sys.exit(f"{path}: no draw {key}")
        v = blob[key]
        assert tuple(v.shape) == tuple(shape), (key, v.shape, shape)
        return v.double()

    loss, _ = m.forward_train(blob["frames"].double(), noise)
    loss.backward()
    want = float(blob["loss"])
    loss_rel = abs(loss.item() - want) / max(abs(want), 1e-30)
    worst, worst_name = 0.0, ""
    for name, p in m.named_parameters():
        g = blob.get("grad/" + name)
        if g is None or p.grad is None:
            sys.exit(f"{path}: gradient of {name} missing on one side")
        d = ((p.grad - g).norm() / max(g.norm().item(), 1e-30)).item()
        if d > worst:
            worst, worst_name = d, name
    pc.emit({"loss": loss.item(), "loss_rel_diff": loss_rel, "max_grad_rel_diff": worst, "worst": worst_name})
    return 0 if loss_rel <= 1e-9 and worst <= 1e-7 else 1


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config")
    p.add_argument("--batch", type=int, default=0, help="sequences per step (default: data.global_batch)")
    p.add_argument("--check", default="", help="framecast's step file to compare with (see above)")
    pc.add_common_args(p)
    a = p.parse_args()
    run, c, data = load_config(a.config)
    if a.check:
        sys.exit(check(c, a.check))
    if a.count_only:
        with torch.device("meta"):
            m = Srvp(c)
        pc.emit({"params": sum(t.numel() for t in m.parameters())})
        return
    pc.setup(torch.device(a.device), a.threads)
    torch.manual_seed(1234)
    D, T = _int(data, "context_frames"), _int(data, "predicted_frames")
    batch = a.batch or _int(data, "global_batch")
    def flops():
        def once(d, b, counter):
            with d:
                mm = Srvp(c)
                x = torch.rand(b, D + T, c["nc"], c["size"], c["size"])
            with pc.autocast(d, a.precision):
                loss = mm.forward_train(x, lambda site, t, shape: torch.randn(shape, device=d))[0]
            loss.backward()
        r = pc.count_flops(once, batch)
        r["counted"] = "one step's forward_train and backward"
        return r

    if a.count_flops:
        pc.emit(dict(flops(), batch=batch))
        return
    dev = torch.device(a.device)
    m = Srvp(c).to(dev)
    o = (_get(run, "optimizers") or {})
    adam = _get(o, "adam", {})
    opt = torch.optim.Adam(m.parameters(), lr=_float(o, "lr", 1e-4) or 1e-4,
                           betas=(_float(adam, "beta1") or 0.9, _float(adam, "beta2") or 0.999),
                           eps=_float(adam, "eps") or 1e-8, weight_decay=_float(o, "weight_decay"))
    clip = torch.rand(batch, D + T, c["nc"], c["size"], c["size"], device=dev)
    noise = lambda site, t, shape: torch.randn(shape, device=dev)  # noqa: E731
    pc.reset_peak(dev)
    last = {}

    def step():
        opt.zero_grad(set_to_none=True)
        with pc.autocast(dev, a.precision):
            loss = m.forward_train(clip, noise)[0]
        loss.backward()
        opt.step()
        last["loss"] = loss.item()

    if a.compile:
        pc.emit({"mode": "compile", "error": "torch.compile is not wired for the SRVP peer (eager only)"})
        return
    ms = pc.median_ms(step, a.warmup, a.steps, dev)
    out = {"mode": "eager", "ms_per_step": round(ms, 3), "sequences_per_s": round(batch / (ms / 1e3), 3),
           "peak_mem_mb": round(pc.peak_mem_mb(dev), 1), "params": sum(t.numel() for t in m.parameters()),
           "loss": last.get("loss"), "precision": a.precision}
    if a.with_flops:  # after the peak was read
        out.update(flops())
    pc.emit(out)


if __name__ == "__main__":
    main()
