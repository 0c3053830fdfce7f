"""PyTorch performance: kernel overhead, early exit, batching and memory (issue #8, items 1-3, 5).

1. Overhead: seconds per step of ``stviz_core.visualize`` against a minimal hand-written loop
   doing the same work (forward to the layer with a hook that stops there, channel objective
   with eq. 1's scaling, autograd backward to the inputs, the paper's regularizers, Adam,
   projection to the bound, jitter by roll), same model, shapes, dtype and thread count.
2. Early exit: a low layer (``rgb.conv3_3``) against the same objective computed after running
   the whole network (a hook reads the layer; the forward pass continues to ``fc8``), beside
   the share of the network's multiply-adds below the layer.
3. Batching: N units in one batch against N sequential single-unit runs (units/s).
5. Memory: peak RSS growth over 1,000 steps (flat = nothing kept across steps), and the peak
   of one conv5_fusion visualization of the full two-stream VGG-16 at 224 x 224.

Per-step time = (time of S2 steps - time of S1 steps) / (S2 - S1); setups compared are timed
in turn within each repeat; medians. Run: python benchmarks/torch_perf.py [--quick]
"""

from __future__ import annotations

import argparse
import gc
import resource
import time

import numpy as np
import torch

import stviz_core as sv
from _machine import median_per_step, record
from stviz_adapters.zoo import vgg_c3d_torch as MT
from stviz_adapters.demo.model import load_demo_model
from stviz_core.layouts import to_model
from stviz_backends.torch.receptive_field import receptive_field
from array_api_compat import torch as txp


class _Stop(BaseException):
    pass


def bare_loop(model, layer, channel, steps, seed=0, *, stop_early=True, field=None,
              channels_last=False):
    """The loop a user would write by hand for one unit: the same math as stviz's paper run.

    ``field``: the layer's (receptive field, stride), else measured from the graph;
    ``channels_last``: the layer's output has its channels last (a transformer's tokens).
    """
    preset = sv.presets.paper()
    specs = model.stviz_layout.specs(model.stviz_inputs)
    rf, stride = field or receptive_field(model, layer, max(s.shape[1] for s in specs.values()))
    rng_init, rng_jit = map(np.random.default_rng, np.random.SeedSequence(seed).spawn(2))
    x = {}
    for name in sorted(specs):
        reg = preset.for_role(specs[name].role)
        amp = preset.init_scale * reg.bound / np.sqrt(specs[name].shape[-1])
        x[name] = torch.tensor(rng_init.uniform(-amp, amp, (1, *specs[name].shape)),
                               dtype=torch.float32, requires_grad=True)
    offsets = rng_jit.integers(0, stride, size=(steps, 2), endpoint=True)
    opt = torch.optim.Adam(list(x.values()), lr=8.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.1 ** (k / max(steps - 1, 1)))
    module = dict(model.named_modules())[layer]
    captured = {}

    def hook(m, a, out):
        captured["a"] = out
        if stop_early:
            raise _Stop

    handle = module.register_forward_hook(hook)
    for p in model.parameters():
        p.requires_grad_(False)
    model.eval()
    weights = {k: preset.for_role(specs[k].role).weights(specs[k].shape) for k in specs}
    try:
        for step in range(steps):
            dy, dx = map(int, offsets[step])
            shifted = {k: torch.roll(v, (dy, dx), dims=(2, 3)) for k, v in x.items()}
            args = [a.contiguous() for a in to_model(model.stviz_layout, shifted, txp)]
            try:
                model(*args)
            except _Stop:
                pass
            unit = captured["a"][..., channel] if channels_last else captured["a"][:, channel]
            objective = unit.sum() / rf**2
            loss = -objective
            for k, v in x.items():
                reg = preset.for_role(specs[k].role)
                lam_b, lam_tv = weights[k]
                nb = (v.pow(2).sum(-1)).pow(reg.alpha / 2).sum()
                tv = reg.kappa * ((v[:, :, :, 1:] - v[:, :, :, :-1]).pow(2).sum()
                                  + (v[:, :, 1:] - v[:, :, :-1]).pow(2).sum())
                if v.shape[1] > 1:
                    tv = tv + reg.gamma * (v[:, 1:] - v[:, :-1]).pow(2).sum()
                loss = loss + lam_b * nb + lam_tv * tv
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            with torch.no_grad():
                for k, v in x.items():
                    norm = v.pow(2).sum(-1, keepdim=True).sqrt()
                    v.mul_(torch.clamp(160.0 / norm.clamp_min(1e-12), max=1.0))
    finally:
        handle.remove()
    return x


def macs_below(model, layer, inputs):
    """Multiply-adds of the convolutions and linear layers run before ``layer``, and in all."""
    total, below, seen = [0], [0], [False]

    def count(m, a, out):
        if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d)):
            n = out.numel() * m.weight[0].numel()
        elif isinstance(m, torch.nn.Linear):
            n = out.numel() * m.in_features
        else:
            n = 0
        total[0] += n
        if not seen[0]:
            below[0] += n

    def mark(m, a, out):
        seen[0] = True

    handles = [m.register_forward_hook(count) for m in model.modules()]
    handles.append(dict(model.named_modules())[layer].register_forward_hook(mark))
    with torch.no_grad():
        model(*inputs)
    for h in handles:
        h.remove()
    return below[0] / total[0]


def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    s1, s2, reps = (3, 13, 2) if args.quick else (5, 25, 3)
    torch.manual_seed(0)
    lines = []

    # 1. overhead
    lines += ["### 1. Kernel overhead against a hand-written loop (float32, N = 1)", "",
              "| model | layer | hand-written ms/step | stviz ms/step | ratio |", "|---|---|---|---|---|"]
    models = {"two-stream VGG-16, width 1/4, 112 px": (MT.two_stream_vgg16(width=0.25, input_size=112,
                                                                            seed=0), "conv5_fusion"),
              "demo model (64 px)": (load_demo_model(), "conv5_fusion")}
    for label, (model, layer) in models.items():
        rf = receptive_field(model, layer, 112)
        med = median_per_step({
            "bare": lambda s, m=model, lay=layer: bare_loop(m, lay, 3, s),
            "stviz": lambda s, m=model, lay=layer: sv.visualize(m, lay, channels=[3], steps=s,
                                                                  seed=0, check_every=10**9, preset="paper"),
        }, s1, s2, reps)
        lines.append(f"| {label} | {layer} (rho {rf[0]}) | {1000 * med['bare']:.1f} | "
                     f"{1000 * med['stviz']:.1f} | {med['stviz'] / med['bare']:.3f} |")
        print(lines[-1], flush=True)

    # 2. early exit
    model = MT.two_stream_vgg16(width=0.25, input_size=112, seed=0)
    inputs = [torch.zeros(1, 3, 112, 112), torch.zeros(1, 20, 112, 112)]
    share = macs_below(model, "rgb.conv3_3", inputs)
    med = median_per_step({
        "early exit": lambda s: sv.visualize(model, "rgb.conv3_3", channels=[3], steps=s, seed=0, preset="paper"),
        "full network": lambda s: bare_loop(model, "rgb.conv3_3", 3, s, stop_early=False),
        "early exit (hand-written)": lambda s: bare_loop(model, "rgb.conv3_3", 3, s),
    }, s1, s2, reps)
    lines += ["", "### 2. Early exit: rgb.conv3_3 of the two-stream VGG-16 (width 1/4, 112 px)", "",
              "| setup | ms/step |", "|---|---|"]
    lines += [f"| {k} | {1000 * v:.1f} |" for k, v in med.items()]
    lines.append(f"| share of multiply-adds below rgb.conv3_3 | {100 * share:.1f} % |")
    lines.append(f"| stviz early exit / full network | {100 * med['early exit'] / med['full network']:.1f} % |")
    print("\n".join(lines[-6:]), flush=True)

    # 3. batching
    model = load_demo_model()
    lines += ["", "### 3. Batching: conv5_fusion units of the demo model, 40 steps", "",
              "| N | one batch s | N sequential runs s | speed-up |", "|---|---|---|---|"]
    for n in (1, 4, 16):
        units = list(range(n))
        t0 = time.perf_counter()
        sv.visualize(model, "conv5_fusion", channels=units, steps=40, seed=units, preset="paper")
        t1 = time.perf_counter()
        for u in units:
            sv.visualize(model, "conv5_fusion", channels=[u], steps=40, seed=u, preset="paper")
        t2 = time.perf_counter()
        lines.append(f"| {n} | {t1 - t0:.2f} | {t2 - t1:.2f} | {(t2 - t1) / (t1 - t0):.2f}x |")
        print(lines[-1], flush=True)

    # 5. memory
    gc.collect()
    steps = 200 if args.quick else 1000
    before = rss_mb()
    trace = []
    for chunk in range(5):
        sv.visualize(model, "conv5_fusion", channels=[0, 1], steps=steps // 5, seed=chunk, preset="paper")
        trace.append(rss_mb())
    lines += ["", "### 5. Memory (peak RSS, MB)", "",
              f"| demo model, {steps} steps in 5 runs: peak after each run | "
              f"{', '.join(f'{m:.0f}' for m in trace)} (start {before:.0f}) |", "|---|---|"]
    big = MT.two_stream_vgg16(width=1.0, input_size=224, seed=0)
    start = rss_mb()
    t0 = time.perf_counter()
    sv.visualize(big, "conv5_fusion", channels=[0], steps=3, seed=0, preset="paper")
    lines.append(f"| full two-stream VGG-16, 224 px, L = 10, conv5_fusion, 3 steps: peak RSS | "
                 f"{rss_mb():.0f} (model built: {start:.0f}); {(time.perf_counter() - t0) / 3:.1f} s/step |")
    print("\n".join(lines[-4:]), flush=True)
    table = "\n".join(lines)
    if not args.no_record:
        record("PyTorch performance (benchmarks/torch_perf.py)", table)


if __name__ == "__main__":
    main()
