"""The demo's section on DeepMind's two-stream I3D, when the user gives both checkpoints.

``stviz demo --rgb-checkpoint RGB --flow-checkpoint FLOW`` adds it:
DeepMind's released Kinetics-400 I3D (``rgb_imagenet`` and ``flow_imagenet``
of https://github.com/deepmind/kinetics-i3d, :mod:`stviz_adapters.zoo.deepmind_i3d`),
both streams with their logits summed, and the class units of
:data:`.kinetics.SHOWN` visualized with appearance and motion ascended
jointly: each visualization is an RGB clip and a flow clip of
:data:`.kinetics.FRAMES` x :data:`.kinetics.SIZE` x :data:`.kinetics.SIZE`
under the demo's preset (:data:`.kinetics.PRESET`), in Keras when it is
installed (:func:`.kinetics.framework`), else PyTorch. The checkpoints are
not shipped (about 50 MB each); without them the section is not run.
"""

from __future__ import annotations

import time
from pathlib import Path

import stviz_core as sv

from . import kinetics

__all__ = ["build", "visualize_two_stream_i3d", "report_sections", "HEADING", "STEM"]

HEADING = "DeepMind's two-stream I3D (RGB + optical flow): class units (Logits)"
#: the file stem of the section's result
STEM = "deepmind_two_stream_Logits"


def build(rgb, flow, frames=kinetics.FRAMES, size=kinetics.SIZE, *, framework_name=None):
    """The two-stream I3D from the two checkpoints, in ``framework_name`` (default :func:`.kinetics.framework`)."""
    if (framework_name or kinetics.framework()) == "keras":
        from ..zoo.deepmind_i3d_keras import two_stream_i3d
    else:
        from ..zoo.deepmind_i3d_torch import two_stream_i3d
    return two_stream_i3d(rgb=rgb, flow=flow, frames=frames, input_size=size)


def visualize_two_stream_i3d(out, rgb, flow, *, steps=None, seed=0, log=print, callback=None,
                             preset=None, frames=kinetics.FRAMES, size=kinetics.SIZE,
                             framework_name=None, classes=None) -> tuple:
    """Visualize ``classes`` (default :data:`.kinetics.SHOWN`) on the two-stream I3D.

    Parameters
    ----------
    out : path
        Folder; the result is saved as ``deepmind_two_stream_Logits.npz`` + ``.json``.
    rgb, flow : path
        DeepMind's checkpoints (``data/checkpoints/rgb_imagenet/model.ckpt`` and
        ``flow_imagenet``), checked before anything runs.
    steps, seed, log, callback, preset, frames, size, framework_name, classes
        As :func:`.kinetics.visualize_kinetics` (``steps`` default :data:`.kinetics.STEPS`).

    Returns
    -------
    summary : dict
        Settings, seconds and the result's file, class names and final objectives.
    results : dict of str to Result
    """
    steps = kinetics.STEPS if steps is None else steps
    preset = kinetics.PRESET if preset is None else preset
    classes = list(kinetics.SHOWN if classes is None else classes)
    fw = framework_name or kinetics.framework()
    t0 = time.perf_counter()
    model = build(rgb, flow, frames, size, framework_name=fw)
    log(f"DeepMind's two-stream I3D ({fw}) at {frames} x {size} x {size}: {len(classes)} classes, "
        f"RGB and flow ascended jointly, preset {preset}, {steps} steps")
    result = sv.visualize(model, "Logits", objective=[sv.class_logit(c) for c in classes],
                          steps=steps, seed=seed, preset=sv.presets.get(preset), callback=callback)
    stem = result.save(Path(out) / STEM)
    names = [f"two-stream Logits: {c}" for c in classes]
    summary = {"model": f"DeepMind two-stream I3D (rgb_imagenet + flow_imagenet), "
                        f"{frames} x {size} x {size}",
               "checkpoints": {"rgb": str(rgb), "flow": str(flow)}, "framework": fw,
               "preset": preset, "steps": steps,
               "results": [{"layer": "Logits", "file": stem.name, "units": classes, "names": names,
                            "objective": result.final["objective"].tolist()}]}
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    log(f"two-stream I3D: {len(classes)} visualizations in {summary['seconds']} s -> {stem}.npz")
    return summary, {stem.name: result}


def report_sections(summary, results) -> list:
    """The section's part of the demo page: a figure grid (the middle RGB frame and a flow frame
    of each class) and the cards, under their own heading (their layer, ``Logits``, is also the
    Kinetics-400 I3D's); ``results`` maps the summary's file stem to its Result."""
    from ..media.sections import FigureGrid, ResultCards

    sections = []
    for entry in summary.get("results", []):
        result = results[entry["file"]]
        sections.append(FigureGrid("I3D_two_stream", {summary["preset"]: result},
                                   "DeepMind two-stream I3D Logits: appearance and motion "
                                   "(middle frame)", unit_labels=entry["names"]))
        names = {("Logits", o): n for o, n in zip(result.config.get("objectives") or [],
                                                  entry["names"])}
        sections.append(ResultCards(HEADING, [(entry["file"], result)], names))
    return sections
