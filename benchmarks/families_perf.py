"""Per-step time of each model family at its paper input size (issue #10), PyTorch and Keras.

Full-width, random-weight models at the papers' inputs: ST-ResNet-50 and
Inception-v3 two-stream with 10 flow frames (224 and 299 px), TSN's BN-Inception
with 5 (224 px), I3D on a 64-frame 224 px clip; one visualization (N = 1), float32,
a deep layer and the class layer. Per-step time: the median interval between
the step callbacks of one run of ``--steps`` steps, after a warm-up run (so
Keras' traced step exists); "setup" is the time from the call to the first
step's end minus one step (BN folding on a copy and the torch.fx
receptive-field trace in PyTorch; the sub-model lookup in Keras). The PyTorch model runs with its BN
folded (the backend's default),
the Keras twin unfolded.
CUDA rows when a GPU is present (PyTorch only).

Run:  python benchmarks/families_perf.py [--families st_resnet50,i3d] [--no-keras]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import stviz_core as sv  # noqa: E402
from _machine import record  # noqa: E402
from stviz_adapters.zoo import declared_keras as FK  # noqa: E402
from stviz_adapters.zoo import declared_torch as FT  # noqa: E402

#: family -> (deep layer, class layer, paper input note)
CASES = {
    "st_resnet50": ("rgb.res5c", "fc_fusion", "224 px, L = 10"),
    "bn_inception_two_stream": ("rgb.inception_5b", "fc_fusion", "224 px, L = 5"),
    "inception_v3_two_stream": ("rgb.Mixed_7c", "fc_fusion", "299 px, L = 10"),
    "i3d": ("Mixed_5c", "Logits", "64 x 224 x 224 clip"),
}


def timed_run(model, layer, steps):
    """``(median seconds per step, setup seconds)`` of one run, from its step callbacks."""
    stamps = []
    t0 = time.perf_counter()
    sv.visualize(model, layer, channels=[0], steps=steps, seed=0,
                 callback=lambda step, total: stamps.append(time.perf_counter()), preset="paper")
    per_step = statistics.median(b - a for a, b in zip(stamps, stamps[1:]))
    return per_step, stamps[0] - t0 - per_step


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families", default=",".join(CASES))
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--no-keras", action="store_true")
    args = parser.parse_args(argv)
    import torch

    rows = []
    for family in args.families.split(","):
        deep, cls, note = CASES[family]
        models = {"PyTorch": getattr(FT, family)(seed=0)}
        if torch.cuda.is_available():
            models["PyTorch CUDA"] = getattr(FT, family)(seed=0).cuda()
        if not args.no_keras:
            models["Keras"] = getattr(FK, family)(seed=0)
        for framework, model in models.items():
            for layer in (deep, cls):
                timed_run(model, layer, 2)  # warm-up: allocations, Keras' trace
                t, setup = timed_run(model, layer, args.steps)
                rows.append((family, note, framework, layer, t, setup))
                print(f"{family:25s} {framework:12s} {layer:18s} {t * 1000:8.0f} ms/step, setup "
                      f"{setup:.1f} s", flush=True)
    lines = ["| family | input | framework | layer | ms per step | setup (s) |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {f} | {n} | {fw} | {layer} | {t * 1000:.0f} | {s:.1f} |"
              for f, n, fw, layer, t, s in rows]
    table = "\n".join(lines)
    record("Model families per step at the paper's input sizes (benchmarks/families_perf.py)", table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
