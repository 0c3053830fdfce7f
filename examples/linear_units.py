"""Visualize two motion-selective units of a linear two-stream model with stviz's kernel.

No framework needed: the model is stviz_core.testing.LinearBackend, a linear
two-stream "network" whose two output channels are hand-built detectors:

* channel 0 prefers red blobs in the appearance input and rightward motion;
* channel 1 prefers blue blobs and upward motion.

The script optimizes both units in one batch under the paper's regularizers for
a few temporal slowness settings (gamma), prints what each found (mean flow in
the receptive field, colour, RMS change of the flow between frames, final
objective) and saves every result as .npz + .json.
When the visualized flow of channel 0 points right and that of channel 1 points
up, the method found what the units were built to detect.

Run:  python examples/linear_units.py --out out/linear_units
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

import stviz_core as sv
from stviz_core.testing import LinearBackend

FRAMES, SIZE, KERNEL = 10, 24, 7


def gaussian(size, sigma):
    r = np.arange(size) - (size - 1) / 2
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2 * sigma**2))
    return g / g.max()


def detector_kernels():
    """Kernels (kt, kh, kw, C, K) of the two hand-built units."""
    blob = gaussian(KERNEL, 1.5)
    rgb = np.zeros((1, KERNEL, KERNEL, 3, 2))
    rgb[0, :, :, 0, 0] = blob  # channel 0 likes red
    rgb[0, :, :, 2, 1] = blob  # channel 1 likes blue
    flow = np.zeros((FRAMES, KERNEL, KERNEL, 2, 2))
    flow[:, :, :, 0, 0] = blob / FRAMES   # channel 0: positive u (rightward)
    flow[:, :, :, 1, 1] = -blob / FRAMES  # channel 1: negative v (upward)
    return {"rgb": rgb, "flow": flow}


def namespace(name):
    if name == "numpy":
        return np
    if name == "torch":
        from array_api_compat import torch as xp
        return xp
    import array_api_strict as xp
    return xp


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("out/linear_units"),
                        help="folder for the results (.npz + .json per gamma)")
    parser.add_argument("--steps", type=int, default=200, help="ascent steps (default 200)")
    parser.add_argument("--gammas", default="0,1,10",
                        help="comma-separated temporal slowness values (default 0,1,10)")
    parser.add_argument("--namespace", choices=("numpy", "torch", "array_api_strict"),
                        default="numpy", help="array library the kernel runs on")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    xp = namespace(args.namespace)
    inputs = {"rgb": ((1, SIZE, SIZE, 3), "appearance"), "flow": ((FRAMES, SIZE, SIZE, 2), "motion")}
    backend = LinearBackend(detector_kernels(), inputs, xp=xp)

    print(f"{'gamma':>5}  {'unit':<22} {'mean u':>8} {'mean v':>8} {'red-blue':>9} {'rms dt':>7} {'objective':>10}")
    for gamma in [float(g) for g in args.gammas.split(",")]:
        result = sv.ascend(backend, [sv.channel(0), sv.channel(1)],
                           preset=sv.presets.anisotropic(gamma), steps=args.steps, seed=args.seed)
        stem = result.save(args.out / f"gamma{gamma:g}")
        flow, rgb = result.inputs["flow"], result.inputs["rgb"]
        centre = slice(KERNEL // 2, SIZE - KERNEL // 2)
        for n, label in enumerate(["0: red, rightward", "1: blue, upward"]):
            u = flow[n, :, centre, centre, 0].mean()
            v = flow[n, :, centre, centre, 1].mean()
            colour = (rgb[n, ..., 0] - rgb[n, ..., 2]).mean()
            rms_dt = np.sqrt(np.mean(np.diff(flow[n], axis=0) ** 2))
            print(f"{gamma:5g}  {label:<22} {u:8.1f} {v:8.1f} {colour:9.1f} {rms_dt:7.2f} "
                  f"{result.final['objective'][n]:10.4f}")
        print(f"       saved {stem}.npz and {stem}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
