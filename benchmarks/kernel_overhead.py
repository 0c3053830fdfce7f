"""Per-step cost of the kernel alone: everything ascend does except the model.

A null backend returns fixed activations and fixed gradients, so the time per
step is the kernel's own work: jitter (roll and roll back), the objective's
cotangent, both regularizers' values and gradients, pixel-shared Adam and the
projection, for a two-stream input (rgb: 1 frame, flow: 10 frames). Per-step
time = (time of S2 steps - time of S1 steps) / (S2 - S1), median of repeats,
all settings timed in turn within each repeat.

Run:  python benchmarks/kernel_overhead.py [--sizes 112,224] [--batch 1,4]
It prints a table and appends it, with the machine, to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os

import numpy as np

import stviz_core as sv

from _machine import median_per_step, record


class NullBackend:
    """Constant activations and gradients: the model costs nothing."""

    name = "null"

    def __init__(self, xp, dtype, size, n):
        self.xp, self.dtype, self.device, self.n = xp, dtype, None, n
        self.inputs = {"rgb": sv.InputSpec((1, size, size, 3)),
                       "flow": sv.InputSpec((10, size, size, 2), "motion")}
        rng = np.random.default_rng(0)
        s = size // 16
        self.acts = xp.asarray(rng.standard_normal((n, s, s, 512)), dtype=dtype)
        self.grads = {k: xp.asarray(rng.standard_normal((n,) + v.shape), dtype=dtype)
                      for k, v in self.inputs.items()}

    def activations(self, inputs):
        return self.acts

    def vjp(self, cotangent):
        return self.grads

    def receptive_field(self):
        return 196, 16


def namespaces():
    out = {"numpy": np}
    try:
        import torch
        from array_api_compat import torch as txp

        torch.set_num_threads(os.cpu_count() or 1)
        out["torch"] = txp
    except ImportError:
        pass
    return out


def run_of(backend):
    return lambda steps: sv.ascend(backend, sv.channel(3), steps=steps,
                                   seed=list(range(backend.n)), preset="paper")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="112,224")
    parser.add_argument("--batch", default="1,4")
    parser.add_argument("--steps", default="5,25", help="S1,S2")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args()
    steps = tuple(int(s) for s in args.steps.split(","))
    settings = []
    for name, xp in namespaces().items():
        for dtype_name in ("float32", "float64"):
            for size in (int(s) for s in args.sizes.split(",")):
                for n in (int(b) for b in args.batch.split(",")):
                    be = NullBackend(xp, getattr(xp, dtype_name), size, n)
                    settings.append(((name, dtype_name, size, n), be))
    med = median_per_step({key: run_of(be) for key, be in settings}, *steps, args.repeats,
                          warm=0)
    lines = ["| namespace | dtype | H=W | N | ms/step (median) | ms/step per visualization |",
             "|---|---|---|---|---|---|"]
    for (name, dtype_name, size, n), seconds in med.items():
        ms = 1000 * seconds
        lines.append(f"| {name} | {dtype_name} | {size} | {n} | {ms:.1f} | {ms / n:.1f} |")
    table = "\n".join(lines)
    print(table)
    if not args.no_record:
        record("Kernel overhead per step (benchmarks/kernel_overhead.py)",
               f"Input per visualization: rgb 1x{{H}}x{{W}}x3 + flow 10x{{H}}x{{W}}x2, paper preset, "
               f"jitter stride 16; steps {steps[0]}->{steps[1]}, median of {args.repeats}.\n\n{table}")


if __name__ == "__main__":
    main()
