"""Where a Keras step's time goes on the real Kinetics-400 I3D, per preset (issue 27).

One visualization of a class logit at 8 x 112 x 112 per preset, with timers around the
parts of a step (the backend's TensorFlow call, host copies in and out, the transforms and
their adjoints, the parameterization's map, its VJP and constraint, the penalties, Adam) and
the hand-written ``tf.function`` loop of ``kinetics_perf.py`` timed in the run's callback
(interleaved). Prints ms per step (median over the steps after the warm-up) per part.

Usage::

    python benchmarks/keras_profile.py                       # every preset, 12 steps
    python benchmarks/keras_profile.py --presets fourier --steps 8
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import stviz_core as sv  # noqa: E402  (first: it sets OpenMP's wait policy)
from stviz_core.param import fourier, maco, pixel  # noqa: E402
from stviz_core.run import loop as run_loop  # noqa: E402
from stviz_core.transforms import Warp  # noqa: E402

import kinetics_perf  # noqa: E402

#: (owner, attribute, label) of the timed parts
PARTS = [
    (Warp, "apply", "transforms"), (Warp, "adjoint", "transforms' adjoint"),
    (run_loop, "regularizer_gradients", "penalties (eq. 2-3)"),
    (run_loop, "adam_step", "Adam step (all)"),
] + [(cls, name, f"field {name}") for cls in (fourier._FourierField, maco._MacoField,
                                               pixel._PixelField)
     for name in ("vjp", "constrain", "to_canvas")]


def timed(owner, name, label, totals, clock=time.perf_counter):
    """Patch ``owner.name`` to add its ``clock`` time to ``totals[label]``; ``(owner, name,
    original)`` to undo it with."""
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        start = clock()
        try:
            return original(*args, **kwargs)
        finally:
            totals[label] += clock() - start

    setattr(owner, name, wrapper)
    return owner, name, original


def _backend_timers(totals):
    from stviz_backends.keras import backend as kb

    undo = [timed(kb.KerasBackend, "activations", "TF call + copies (activations)", totals),
            timed(kb.KerasBackend, "vjp", "TF call + copies (vjp)", totals)]
    return undo


def profile(model, preset, class_name, steps, warmup, options=None):
    """``{part: ms per step}`` of one run of ``preset``, the loop's step as ``hand-written loop``."""
    labels = list(sv.contract_of(model).labels)
    loop = kinetics_perf.keras_loop(model, labels.index(class_name))
    loop()
    totals, rows, mark = defaultdict(float), [], {}
    undo = [timed(o, n, lab, totals) for o, n, lab in PARTS] + _backend_timers(totals)

    def callback(step, total):
        now = time.perf_counter()
        row = dict(totals)
        totals.clear()
        if "end" in mark:
            row["stviz step"] = now - mark["end"]
        loop()
        row["hand-written loop"] = time.perf_counter() - now
        rows.append(row)
        mark["end"] = time.perf_counter()

    try:
        sv.visualize(model, "Logits", objective=[sv.class_logit(class_name)], steps=steps,
                     seed=0, preset=sv.presets.get(preset), callback=callback,
                     backend_options=options)
    finally:
        for owner, name, original in reversed(undo):
            setattr(owner, name, original)
    rows = rows[warmup + 1:]
    keys = sorted({k for r in rows for k in r})
    return {k: 1e3 * statistics.median(r.get(k, 0.0) for r in rows) for k in keys}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default=",".join(kinetics_perf.PRESETS))
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--class-name", default="playing cricket")
    args = parser.parse_args(argv)
    model, _ = kinetics_perf.build("keras")
    for preset in args.presets.split(","):
        _report(preset, profile(model, preset, args.class_name, args.steps, args.warmup), args)


def _report(preset, parts, args):
    print(f"\n{preset}: ms per step (median of {args.steps - args.warmup - 1})")
    for k, v in sorted(parts.items(), key=lambda kv: -kv[1]):
        print(f"  {k:36s} {v:7.1f}")
    known = sum(v for k, v in parts.items() if k not in ("stviz step", "hand-written loop"))
    print(f"  {'(rest of the step)':36s} {parts.get('stviz step', 0) - known:7.1f}")


if __name__ == "__main__":
    main()
