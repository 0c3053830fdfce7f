"""The main job: visualize units of the shipped demo model under four temporal slowness settings.

    stviz demo --out out/demo

Loads the trained two-stream demo network (:mod:`stviz_adapters.demo.model`),
records its ``conv5_fusion`` activity on the held-out validation clips (the
``a_hat`` of eq. 1 and each unit's strongest class), then visualizes the most
active ``conv5_fusion`` units and every class unit (``fc8``) with the paper's
anisotropic regularizer at gamma = 0, 1, 5 and 10. The ``conv5_fusion`` units
maximize ``sum(a_c) / a_hat_c``: eq. 1 without its ``1 / rho^2``, which at this
layer (rho = 70) leaves the unit's term negligible beside the paper's
regularizers, so that every unit would look alike. Writes one result per
(layer, gamma) as ``.npz`` + ``.json``, a ``summary.json``, the figure grids
``grid_conv5_fusion.png`` and ``grid_fc8.png`` and the animated manuscript
``index.html``, and prints progress and, per class unit, the mean visualized
motion.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

import stviz_core as sv

from . import synthetic_actions as data
from ..activity import record_cached
from .model import CHECKPOINTS, load_demo_model

__all__ = ["run_demo", "visualize_checkpoints", "GAMMAS"]

GAMMAS = (0.0, 1.0, 5.0, 10.0)


def visualize_checkpoints(layer, *, channels=None, objective=None, checkpoints=tuple(CHECKPOINTS),
                          **options) -> dict:
    """The same units visualized at several training checkpoints (the paper's Fig. 9).

    Returns ``{checkpoint: Result}``; every run gets the same seeds and options,
    so the differences are the network's.
    """
    return {name: sv.visualize(load_demo_model(name), layer, channels=channels,
                               objective=objective, **options)
            for name in checkpoints}


def run_demo(out, *, steps=150, units=4, gammas=GAMMAS, seed=0, log=print, callback=None,
             report=True) -> dict:
    """Run the demo into folder ``out``; returns the summary it writes.

    With ``report`` (and the ``media`` extra installed) it also writes the
    figure grids and the animated manuscript ``index.html``.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model = load_demo_model()
    log("rendering the validation clips with TV-L1 flow (cached after the first run) ...")
    val = data.make_split("val", 25, progress=lambda d, t: d % 50 == 0 and log(f"  {d}/{t} clips"))
    activity = record_cached(model, "conv5_fusion", val.inputs(), val.labels,
                             classes=data.CLASSES, cache_dir=data.cache_dir())
    live = activity.live_channels()
    chosen = [int(c) for c in live[np.argsort(-activity.a_hat[live])][:units]]
    log(f"conv5_fusion units {chosen}: strongest classes "
        f"{[activity.strongest_class(c) for c in chosen]}")
    runs = [(layer, g) for g in gammas for layer in ("conv5_fusion", "fc8")]
    summary = {"model": "stviz demo two-stream (stviz_adapters/demo)", "steps": steps,
               "gammas": list(gammas), "conv5_fusion_units": chosen,
               "strongest_class": {c: activity.strongest_class(c) for c in chosen},
               "classes": list(data.CLASSES), "results": []}
    for i, (layer, gamma) in enumerate(runs, 1):
        t = time.perf_counter()
        if layer == "fc8":
            objective = [sv.class_logit(c) for c in range(len(data.CLASSES))]
            result = sv.visualize(model, layer, objective=objective, steps=steps, seed=seed,
                                  preset=sv.presets.anisotropic(gamma), callback=callback)
        else:
            # eq. 1 without its 1/rho^2: at this layer (rho = 70) the paper's factor leaves
            # the unit's term negligible beside the regularizers, and every unit looks alike
            objective = [sv.channel(c, normalize=False) / float(activity.a_hat[c]) for c in chosen]
            result = sv.visualize(model, layer, objective=objective, steps=steps, seed=seed,
                                  preset=sv.presets.anisotropic(gamma), callback=callback)
        stem = result.save(out / f"{layer}_gamma{gamma:g}")
        flow = result.inputs["flow"]
        entry = {"layer": layer, "gamma": gamma, "file": stem.name,
                 "objective": result.final["objective"].tolist(),
                 "mean_flow_uv": flow[..., :2].mean(axis=(1, 2, 3)).tolist(),
                 "rms_temporal_change": np.sqrt((np.diff(flow, axis=1) ** 2)
                                                .mean(axis=(1, 2, 3, 4))).tolist()}
        summary["results"].append(entry)
        log(f"[{i}/{len(runs)}] {layer:12s} gamma {gamma:4g}: {len(flow)} units in "
            f"{time.perf_counter() - t:.1f} s -> {stem}.npz")
    for entry in summary["results"]:
        if entry["layer"] == "fc8" and entry["gamma"] == 1.0:
            for name, (u, v) in zip(data.CLASSES, entry["mean_flow_uv"], strict=True):
                log(f"  class {name:13s} visualized mean flow u {u:+6.2f}  v {v:+6.2f}")
    if report:
        write_demo_report(out, summary, activity, log=log, clips=val)
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    log(f"done in {summary['seconds']} s; results and summary.json in {out}")
    return summary


def write_demo_report(out, summary, activity, *, log=print, clips=None):
    """Figure grids (units x gamma, with per-class activity bars) and the animated manuscript."""
    from ..media.render import appearance_to_rgb
    from ..media.report import Grid, write_report

    out = Path(out)
    units = summary["conv5_fusion_units"]
    top = None
    if clips is not None:  # the middle frame of each unit's most exciting validation clip
        top = [appearance_to_rgb(clips.rgb[activity.top_clips[u, 0]], mean=data.MEAN_RGB)[0]
               for u in units]
    grids = [Grid(layer, {f"gamma = {g:g}": sv.load(out / f"{layer}_gamma{g:g}")
                          for g in summary["gammas"]},
                  f"{layer}: appearance and motion (middle frame)", unit_labels=labels,
                  activity=act, channels=channels, top_clips=tops)
             for layer, labels, channels, act, tops in (
                 ("conv5_fusion", [f"unit {u} ({activity.strongest_class(u)})" for u in units],
                  units, activity, top),
                 ("fc8", list(data.CLASSES), None, None, None))]
    write_report(out, grids, log=log,
                 title="stviz demo: two-stream units under temporal slowness gamma")
