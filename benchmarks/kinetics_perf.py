"""stviz against the hand-written loop on the real Kinetics-400 I3D, per framework and preset (issue 27).

One visualization of a class logit of the I3D at 8 x 112 x 112. For each framework
(PyTorch, Keras) and preset (``paper``, ``fourier``, ``maco``, ``canvas``) one stviz run
whose per-step callback runs one step of the hand-written loop (forward to the logits
and the input gradient, then a plain gradient step; PyTorch in ``channels_last_3d``,
Keras as a ``tf.function``): the two are interleaved in one run, so both see the same
machine load. stviz's step is the time between callbacks less the loop's step; each is
the median of the steps after the warm-up. Target (issue 27): every preset <= 1.10x its
framework's hand-written loop.

Usage (an idle machine; about 2 minutes on 2 cores, estimated from ``--quick``'s CPU time)::

    python benchmarks/kinetics_perf.py            # the table, as markdown
    python benchmarks/kinetics_perf.py --quick    # 4 steps, to check that it runs (~1 min)

Options: ``--frameworks torch,keras``, ``--presets paper,fourier,maco,canvas``,
``--steps 14 --warmup 2`` (the median of 12 steps), ``--class-name "playing cricket"``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import stviz_core as sv  # noqa: E402  (first: it sets OpenMP's wait policy)

FRAMES, SIZE = 8, 112
PRESETS = ("paper", "fourier", "maco", "canvas")
TARGET = 1.10


def torch_loop(model, index, seed=0):
    """One step of the hand-written PyTorch loop, as a function: forward, input gradient, step."""
    import copy

    import torch

    net = copy.deepcopy(model).to(memory_format=torch.channels_last_3d).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    rng = np.random.default_rng(seed)
    x = torch.tensor(rng.uniform(-20, 20, (1, 3, FRAMES, SIZE, SIZE)), dtype=torch.float32)
    state = {"x": x.contiguous(memory_format=torch.channels_last_3d)}

    def step():
        leaf = state["x"].detach().requires_grad_(True)
        logit = net(leaf)[:, index].sum()
        (grad,) = torch.autograd.grad(logit, leaf)
        state["x"] = (leaf + 1e-3 * grad).detach()

    return step


def keras_loop(model, index, seed=0):
    """One step of the hand-written Keras/TF loop: a ``tf.function`` of the forward pass and the
    input gradient, then a gradient step."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    state = {"x": tf.constant(rng.uniform(-20, 20, (1, FRAMES, SIZE, SIZE, 3)), tf.float32)}

    @tf.function(input_signature=[tf.TensorSpec((1, FRAMES, SIZE, SIZE, 3), tf.float32)])
    def ascend(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            logit = tf.reduce_sum(model(x, training=False)[:, index])
        return x + 1e-3 * tape.gradient(logit, x)

    def step():
        state["x"] = ascend(state["x"])
        state["x"].numpy()  # the step is done when its result is on the host

    return step


def build(framework):
    """The I3D and the hand-written loop's maker in ``framework``."""
    if framework == "torch":
        from stviz_adapters.zoo.kinetics_i3d_torch import kinetics_i3d

        return kinetics_i3d(frames=FRAMES, input_size=SIZE), torch_loop
    from stviz_adapters.zoo.kinetics_i3d_keras import kinetics_i3d

    return kinetics_i3d(frames=FRAMES, input_size=SIZE), keras_loop


def interleaved(model, make_loop, preset, class_name, steps, warmup, backend_options=None,
                timings=None):
    """``(stviz ms, loop ms)``: medians over the steps after ``warmup`` of one run whose callback
    runs one step of the hand-written loop; ``timings["first_step_s"]``: seconds from the call to
    the first callback (a fused step's compilation is in it)."""
    labels = list(sv.contract_of(model).labels)
    loop = make_loop(model, labels.index(class_name))
    loop()  # traced / warmed before the run
    ours, theirs, mark = [], [], {"start": time.perf_counter()}

    def callback(step, total):
        now = time.perf_counter()
        if timings is not None and "end" not in mark:
            timings["first_step_s"] = now - mark["start"]
        if "end" in mark:
            ours.append(now - mark["end"])
        loop()
        theirs.append(time.perf_counter() - now)
        mark["end"] = time.perf_counter()

    sv.visualize(model, "Logits", objective=[sv.class_logit(class_name)], steps=steps, seed=0,
                 preset=sv.presets.get(preset), callback=callback,
                 backend_options=backend_options or {})
    return (1e3 * statistics.median(ours[warmup:]), 1e3 * statistics.median(theirs[warmup + 1:]))


def fused_rows(model, make_loop, preset, class_name, steps, warmup):
    """The torch rows of ``--fused``: eager then fused (``fused_step=True``), each interleaved
    with the loop, and the seconds each took to its first step (the compilation's cost)."""
    rows = []
    for label, options in (("eager", {}), ("fused", {"fused_step": True})):
        timings = {}
        ours, theirs = interleaved(model, make_loop, preset, class_name, steps, warmup,
                                   backend_options=options, timings=timings)
        rows.append(f"| torch ({label}) | {preset} | {theirs:.0f} | {ours:.0f} | "
                    f"{ours / theirs:.2f} | first step {timings['first_step_s']:.1f} s |")
        print(rows[-1], flush=True)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 steps: check that it runs")
    parser.add_argument("--frameworks", default="torch,keras")
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--steps", type=int, default=14)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--class-name", default="playing cricket")
    parser.add_argument("--fused", action="store_true",
                        help="torch: each preset also with fused_step=True (torch.compile), "
                             "with the seconds to the first step (eager, fused)")
    args = parser.parse_args(argv)
    steps, warmup = (4, 1) if args.quick else (args.steps, args.warmup)
    rows, started = [], time.perf_counter()
    for framework in args.frameworks.split(","):
        model, make_loop = build(framework)
        for preset in args.presets.split(","):
            ours, theirs = interleaved(model, make_loop, preset, args.class_name, steps, warmup)
            ratio = ours / theirs
            rows.append(f"| {framework} | {preset} | {theirs:.0f} | {ours:.0f} | {ratio:.2f} | "
                        f"{'yes' if ratio <= TARGET else 'no'} |")
            print(rows[-1], flush=True)
            if framework == "torch" and args.fused:
                rows.extend(fused_rows(model, make_loop, preset, args.class_name, steps, warmup))
    print(f"\nI3D {FRAMES} x {SIZE} x {SIZE}, one class logit ({args.class_name!r}), median of "
          f"{steps - warmup - 1} steps after {warmup} warm-up steps, interleaved; "
          f"{time.perf_counter() - started:.0f} s in all{' (--quick: not a measurement)' if args.quick else ''}\n")
    print("| framework | preset | hand-written loop (ms/step) | stviz (ms/step) | ratio | "
          f"<= {TARGET:.2f}x |\n|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
