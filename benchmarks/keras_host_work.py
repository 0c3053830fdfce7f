"""The host work of a Keras step: the kernel's numpy code at the real I3D's shapes, per part (issue 27).

The Keras backend keeps the kernel's arrays in numpy, so everything of a step but the
TensorFlow call (the parameterization's map, its VJP and constraint, the transforms and
their adjoints, the jitter, the penalties, Adam) is single-threaded numpy between
TensorFlow's calls. This runs that code alone, with a linear model in place of the network
(``stviz_core.testing.LinearBackend``: a 1 x 1 x 1 convolution, nearly free) on one
visualization of 8 x 112 x 112 x 3 in float32, and reports the process's CPU time per step
(``time.process_time``: less sensitive to other processes on a shared machine than the wall
clock) and per part. numpy's BLAS runs one thread, as under the Keras backend.

Usage::

    python benchmarks/keras_host_work.py                      # paper, fourier, maco, canvas
    python benchmarks/keras_host_work.py --presets canvas --steps 30
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # the Keras backend's setting during a run
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

import stviz_core as sv  # noqa: E402
from stviz_core import jitter  # noqa: E402
from stviz_core.param import fourier, maco, pixel  # noqa: E402
from stviz_core.param.base import Field  # noqa: E402
from stviz_core.run import loop  # noqa: E402
from stviz_core.testing import LinearBackend  # noqa: E402
from stviz_core.transforms import Warp  # noqa: E402

from keras_profile import timed  # noqa: E402  (TensorFlow is not imported)

SHAPE = (8, 112, 112, 3)
FIELDS = (fourier._FourierField, maco._MacoField, pixel._PixelField)
#: (owner, attribute, part) of the timed parts
PARTS = ([(Warp, "apply", "transforms"), (Warp, "adjoint", "transforms' adjoint"),
          (loop, "regularizer_gradients", "penalties (eq. 2-3)"),
          (jitter.StepShift, "shift", "jitter"), (jitter.StepShift, "unshift", "jitter"),
          (Field, "canvas_cotangent", "canvas cotangent")]
         + [(cls, "vjp", "field VJP") for cls in FIELDS]
         + [(cls, "constrain", "field constraint (its map)") for cls in FIELDS])


def measure(preset, steps):
    """``{part: median CPU ms per step}`` (``"step"``: the whole step) over ``steps`` steps."""
    backend = LinearBackend({"clip": np.random.default_rng(0).standard_normal((1, 1, 1, 3, 2))},
                            {"clip": (SHAPE, "appearance")}, xp=np, dtype=np.float32)
    totals, rows, mark = defaultdict(float), [], {}

    def callback(step, total):
        now = time.process_time()
        if "end" in mark:
            rows.append(dict(totals, step=now - mark["end"]))
        totals.clear()
        mark["end"] = time.process_time()

    sv.ascend(backend, sv.channel(0), preset=preset, steps=2, seed=0)  # warm
    undo = [timed(o, n, part, totals, clock=time.process_time) for o, n, part in PARTS]
    try:
        sv.ascend(backend, sv.channel(0), preset=preset, steps=steps, seed=0, callback=callback)
    finally:
        for owner, name, original in reversed(undo):
            setattr(owner, name, original)
    rows = rows[1:]
    return {k: 1e3 * float(np.median([r.get(k, 0.0) for r in rows]))
            for k in sorted({k for r in rows for k in r})}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="paper,fourier,maco,canvas")
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args(argv)
    print(f"host CPU ms per step (median of {args.steps - 2}), one visualization of "
          f"{' x '.join(map(str, SHAPE))}, float32, numpy {np.__version__}")
    for preset in args.presets.split(","):
        parts = measure(preset, args.steps)
        step = parts.pop("step")
        listed = ", ".join(f"{k} {v:.1f}" for k, v in sorted(parts.items(), key=lambda kv: -kv[1]))
        print(f"| {preset} | {step:.1f} | {listed} |", flush=True)


if __name__ == "__main__":
    main()
