"""Keras backend per-step cost: compiled vs eager, host copies, and the PyTorch twin beside it.

On a two-stream VGG-16 (``--width``, ``--size``, 10 flow frames) at conv5_fusion,
N visualizations, float32: per-step time of

* ``keras compiled``: the default, one fused ``tf.function`` call per step;
* ``keras eager``: ``compiled=False``, forward and VJP eagerly with a tape;
* ``torch``: the ported PyTorch twin, same config;

and, for the Keras backend, the part of a step spent copying between the
kernel's host arrays and TensorFlow (layout change, ``convert_to_tensor``
for the inputs, ``numpy()`` and the inverse layout for the gradients): the
most a TensorFlow-native array namespace could save. Per-step time =
(time of S2 steps - time of S1 steps) / (S2 - S1), median of repeats, setups
timed in turn in each repeat.

Run:  python benchmarks/keras_backend.py [--width 0.25 --size 112 --batch 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

import stviz_core as sv  # noqa: E402
from _machine import record  # noqa: E402
from stviz_adapters import models_keras as MK  # noqa: E402
from stviz_adapters import models_torch as MT  # noqa: E402
from stviz_adapters.layouts import from_model, to_model  # noqa: E402
from stviz_adapters.porting import torch_to_keras  # noqa: E402


def per_step(run, s1, s2):
    t0 = time.perf_counter()
    run(s1)
    t1 = time.perf_counter()
    run(s2)
    t2 = time.perf_counter()
    return ((t2 - t1) - (t1 - t0)) / (s2 - s1)


def copy_cost(km, n, repeats=20):
    import tensorflow as tf

    rng = np.random.default_rng(0)
    x = {k: rng.standard_normal((n, *s)).astype(np.float32) for k, s in km.stviz_inputs.items()}
    layout = km.stviz_layout
    t0 = time.perf_counter()
    for _ in range(repeats):
        args = [tf.convert_to_tensor(a) for a in to_model(layout, x, np)]
        back = [np.asarray(a) for a in args]
        from_model(layout, back, np)
    return (time.perf_counter() - t0) / repeats


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--size", type=int, default=112)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", default="5,25")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    s1, s2 = (int(s) for s in args.steps.split(","))
    kw = dict(num_classes=101, width=args.width, input_size=args.size, flow_frames=10)
    tm = MT.two_stream_vgg16(seed=0, **kw)
    km = torch_to_keras(tm, MK.two_stream_vgg16(**kw))
    units = list(range(args.batch))
    common = dict(channels=units, seed=list(range(args.batch)))

    def run(model, **backend_options):
        return lambda steps: sv.visualize(model, "conv5_fusion", steps=steps,
                                          backend_options=backend_options, **common)

    setups = {"keras compiled": run(km), "keras eager": run(km, compiled=False), "torch": run(tm)}
    for fn in setups.values():
        fn(2)  # warm up: tracing, allocation
    samples = {k: [] for k in setups}
    for _ in range(args.repeats):
        for k, fn in setups.items():
            samples[k].append(per_step(fn, s1, s2))
    copy = copy_cost(km, args.batch)
    med = {k: 1000 * statistics.median(v) for k, v in samples.items()}
    lines = ["| setup | ms/step (median) |", "|---|---|"]
    lines += [f"| {k} | {v:.1f} |" for k, v in med.items()]
    lines.append(f"| keras host copies (part of compiled) | {1000 * copy:.2f} "
                 f"({100 * 1000 * copy / med['keras compiled']:.1f} % of a step) |")
    table = "\n".join(lines)
    print(table)
    if not args.no_record:
        record("Keras backend per step (benchmarks/keras_backend.py)",
               f"Two-stream VGG-16, width {args.width}, {args.size}x{args.size}, 10 flow frames, "
               f"conv5_fusion, N = {args.batch}, float32, paper preset; steps {s1}->{s2}, median "
               f"of {args.repeats}.\n\n{table}")


if __name__ == "__main__":
    main()
