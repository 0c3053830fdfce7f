"""The step's penalties and jitter alone, in numpy and in PyTorch on the CPU (issue 27).

Times, per call, the kernel's element-wise parts of a step at the real I3D's shapes (one
visualization of 8 x 112 x 112 x 3, and the canvas preset's 16 x 140 x 140 x 3 canvas) in
float32: ``stviz_core.run.fused.regularize`` with the paper's weights (eq. 2 and 3 with their
gradients; kappa and gamma 1), the same with an anchor, the hard bound
(``project_to_bound_unchecked``) and one step's jitter (``StepShift``: shift and unshift, a
fresh index as every step builds). numpy runs one BLAS thread (as under the Keras backend);
PyTorch runs with 1 and 2 intra-op threads. Wall-clock medians of ``--repeats`` calls.

Usage::

    python benchmarks/penalty_jitter_perf.py                # numpy and torch, both shapes
    python benchmarks/penalty_jitter_perf.py --libs numpy --repeats 50
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from stviz_core import jitter, regularizers  # noqa: E402
from stviz_core._xp import namespace  # noqa: E402
from stviz_core.run import fused  # noqa: E402

SHAPES = {"clip": (1, 8, 112, 112, 3), "canvas": (1, 16, 140, 140, 3)}
#: (lam_norm, lam_tv, alpha, kappa, gamma, bound, anchor_weight) as the paper preset gives them
PAPER = (1.946e-11, 1.316e-07, 3.0, 1.0, 1.0, 160.0, None)


def _cases(x, x0, offs, xp):
    anchored = PAPER[:-1] + (0.5,)
    return {
        "penalties": lambda: fused.regularize(xp, (PAPER,), (x,), (None,)),
        "penalties+anchor": lambda: fused.regularize(xp, (anchored,), (x,), (x0,)),
        "bound": lambda: regularizers.project_to_bound_unchecked(x, 160.0, xp),
        "jitter": lambda: (lambda s: s.unshift(s.shift(x)))(jitter.StepShift(offs, xp)),
    }


def _median_ms(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def measure(lib, threads, repeats):
    """``{(shape name, case): median ms}`` for one library (and thread count)."""
    rng = np.random.default_rng(0)
    out = {}
    for name, shape in SHAPES.items():
        x = (100 * rng.standard_normal(shape)).astype(np.float32)
        x0 = (100 * rng.standard_normal(shape)).astype(np.float32)
        offs = np.array([[3, 5]] * shape[0], dtype=np.int64)
        if lib == "torch":
            import torch

            torch.set_num_threads(threads)
            x, x0, offs = torch.from_numpy(x), torch.from_numpy(x0), torch.from_numpy(offs)
        xp = namespace(x)
        for case, fn in _cases(x, x0, offs, xp).items():
            out[name, case] = _median_ms(fn, repeats)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--libs", default="numpy,torch")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args(argv)
    print(f"ms per call (median of {args.repeats}), float32, load average "
          f"{os.getloadavg()[0]:.2f}")
    print("| library | shape | " + " | ".join(_cases(*[None] * 4)) + " |")
    for lib in args.libs.split(","):
        for threads in ((1,) if lib == "numpy" else (1, 2)):
            table = measure(lib, threads, args.repeats)
            for name in SHAPES:
                cells = " | ".join(f"{table[name, c]:.2f}" for c in _cases(*[None] * 4))
                label = lib if lib == "numpy" else f"torch {threads} thr"
                print(f"| {label} | {name} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
