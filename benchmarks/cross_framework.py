"""How closely PyTorch and Keras agree on the same visualization, over longer runs.

A two-stream VGG-16 at conv5_fusion (or, with ``--family st_resnet50``, the
Spatiotemporal ResNet-50 at ``--layer``, default rgb.res4f) (``--width``,
``--size``, 10 flow frames) is built in PyTorch, its weights ported to the
Keras twin, and ``stviz_adapters.compare``
runs the paper preset with jitter on both, for each dtype and step count.
Printed per run (worst over the visualizations): max |difference| of the
final inputs (and as a fraction of the bound B = 160), the lowest Pearson
correlation, the largest relative difference of the final objective, and
the wall time of each framework.

Run:  python benchmarks/cross_framework.py [--width 0.125 --size 96 --units 0,1,2,3]
      python benchmarks/cross_framework.py --family st_resnet50 --runs float64:50,float32:200
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import torch  # noqa: E402

import stviz_core as sv  # noqa: E402
from _machine import record  # noqa: E402
from stviz_adapters.zoo import declared_keras as FK  # noqa: E402
from stviz_adapters.zoo import declared_torch as FT  # noqa: E402
from stviz_adapters.zoo import vgg_c3d_keras as MK  # noqa: E402
from stviz_adapters.zoo import vgg_c3d_torch as MT  # noqa: E402
from stviz_adapters.zoo.porting import torch_to_keras  # noqa: E402


def run_pair(tm, km, layer, units, steps):
    common = dict(channels=units, steps=steps, seed=list(range(len(units))), preset="paper")
    t0 = time.perf_counter()
    a = sv.visualize(tm, layer, **common)
    t1 = time.perf_counter()
    b = sv.visualize(km, layer, **common)
    t2 = time.perf_counter()
    return sv.compare(a, b), t1 - t0, t2 - t1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=["vgg16", "st_resnet50"], default="vgg16")
    parser.add_argument("--layer", default=None)
    parser.add_argument("--width", type=float, default=0.125)
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--units", default="0,1,2,3")
    parser.add_argument("--runs", default="float64:50,float64:200,float32:200,float32:500",
                        help="dtype:steps pairs")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    units = [int(u) for u in args.units.split(",")]
    kw = dict(num_classes=101, width=args.width, input_size=args.size, flow_frames=10)
    if args.family == "vgg16":
        layer = args.layer or "conv5_fusion"
        build_torch, build_keras, name = MT.two_stream_vgg16, MK.two_stream_vgg16, "Two-stream VGG-16"
    else:
        layer = args.layer or "rgb.res4f"
        build_torch, build_keras, name = FT.st_resnet50, FK.st_resnet50, "ST-ResNet-50"
    lines = ["| dtype | steps | max abs diff | / B | min corr | max rel diff objective | torch s | keras s |",
             "|---|---|---|---|---|---|---|---|"]
    for spec in args.runs.split(","):
        dtype, steps = spec.split(":")
        tm = build_torch(seed=0, **kw).to(getattr(torch, dtype))
        km = torch_to_keras(tm, build_keras(dtype=dtype, **kw))
        c, ta, tb = run_pair(tm, km, layer, units, int(steps))
        diff = float(c.max_abs_diff["all"].max())
        line = (f"| {dtype} | {steps} | {diff:.3e} | {diff / 160:.2e} | "
                f"{float(np.min(c.correlation['all'])):.7f} | "
                f"{float(c.final_rel_diff['objective'].max()):.2e} | {ta:.1f} | {tb:.1f} |")
        print(line, flush=True)
        lines.append(line)
    table = "\n".join(lines)
    if not args.no_record:
        record("PyTorch vs Keras agreement (benchmarks/cross_framework.py)",
               f"{name} twins (weights ported from PyTorch), width {args.width}, "
               f"{args.size}x{args.size}, 10 flow frames, {layer} units {units}, paper "
               f"preset, jitter on, seeds 0..{len(units) - 1}.\n\n{table}")


if __name__ == "__main__":
    main()
