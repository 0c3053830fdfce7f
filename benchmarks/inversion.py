"""Feature inversion on real networks (issue 17 item 5): what each layer's code keeps of a clip.

On the Kinetics-400 I3D (RGB stream, trained weights, ``--frames`` x
``--size`` x ``--size``, 8 x 112 x 112 by default) with the UCF-101 cricket
shot of ``tests/data/kinetics_i3d`` (its central window, fitted and
preprocessed as activity recording does: :func:`stviz_adapters.clips.load_clip`),
for the code at each of ``Conv3d_2c_3x3``, ``Mixed_3c``, ``Mixed_4f`` and
``Mixed_5c``, the clip is reconstructed from noise
(:func:`stviz_core.invert`: feature matching under the paper preset's
regularizers times ``--weight``, no jitter, ``--steps`` steps), and measured:

* the **normalized feature error** reached, ``||phi(x) - phi0||^2 / ||phi0||^2``
  (target of the issue: <= 0.05 at every layer);
* whether the network still classifies the reconstruction as **"playing
  cricket"** (top-1 and its rank; target: kept from ``Mixed_4f`` down), beside
  the real clip's own classification;
* the Pearson **correlation** of the reconstruction with the clip (it should
  fall as the layer rises, as in Mahendran and Vedaldi's pre-images).

Then on the shipped two-stream demo net, one validation clip of each of its 8
classes is inverted jointly (appearance and motion) from ``conv5_fusion``; the
net's class of each reconstruction is compared with the clip's.

Every regularizer weight in ``--weight`` (a comma-separated list of factors on
the paper preset's ``lambda_B`` and ``lambda_TV``) gives one row per layer: the
paper's weights were set for activation maximization, where nothing else
bounds the input; Mahendran and Vedaldi chose their TV weight per layer for
inversion.

Run (defaults: Keras on CPU when installed, ``--weight 1,0.01``, 200 steps; about
25 minutes on 2 shared cores)::

    python benchmarks/inversion.py --out out/inversion

``--quick``: 8 x 64 x 64, two layers, 5 steps, one weight (the script checks
itself in a minute). With ``--out`` the results, the clips and a report page
(the real clip beside each reconstruction) are written there. The table is
appended to ``benchmarks/RESULTS.md`` unless ``--no-record``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import record  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT / "tests" / "data" / "kinetics_i3d" / "v_CricketShot_g04_c01_rgb.gif"
LAYERS = ("Conv3d_2c_3x3", "Mixed_3c", "Mixed_4f", "Mixed_5c")
TARGET_ERROR = 0.05
CLASS = "playing cricket"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=8)
    p.add_argument("--size", type=int, default=112)
    p.add_argument("--steps", type=int, default=200, help="Ascent steps per inversion.")
    p.add_argument("--demo-steps", type=int, default=300, help="Steps of the two-stream inversion.")
    p.add_argument("--weight", default="1,0.01",
                   help="Comma-separated factors on the paper preset's regularizer weights.")
    p.add_argument("--layers", default=",".join(LAYERS))
    p.add_argument("--framework", choices=("keras", "torch"), default=None,
                   help="Default: Keras when installed (faster on CPU), else PyTorch.")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None, help="Write results and a report page here.")
    p.add_argument("--no-record", action="store_true", help="Do not append to RESULTS.md.")
    p.add_argument("--no-demo", action="store_true", help="Skip the two-stream demo net.")
    p.add_argument("--quick", action="store_true", help="A one-minute check of the script.")
    return p


def preset(weight):
    import stviz_core as sv

    base = sv.presets.paper()
    return base.replace(appearance=replace(base.appearance, weight=weight),
                        motion=replace(base.motion, weight=weight))


def pairs_for(heading, clip, result, captions):
    from stviz_adapters.media.manuscript import Pair

    return [Pair(heading, {k: v[n if len(v) > 1 else 0] for k, v in clip.inputs.items()}, result,
                 n, captions[n]) for n in range(len(result))]


def kinetics(args, weights, log):
    import stviz_core as sv
    from stviz_adapters.clips import load_clip
    from stviz_adapters.demo import kinetics as demo_kinetics
    from stviz_adapters.recognition import class_scores
    from stviz_adapters.zoo.kinetics_i3d import KINETICS400_CLASSES, class_index

    fw = args.framework or demo_kinetics.framework()
    model = demo_kinetics.build(args.frames, args.size, framework_name=fw)
    clip = load_clip(model, CLIP)
    target = class_index(CLASS)

    def rank(clips):
        scores = class_scores(model, clips)
        return [int((s > s[target]).sum()) + 1 for s in scores], [
            KINETICS400_CLASSES[int(np.argmax(s))] for s in scores]

    real_rank, real_top = rank(clip.inputs["clip"])
    log(f"Kinetics-400 I3D ({fw}), {args.frames} x {args.size} x {args.size}, clip {CLIP.name} "
        f"frames {clip.details['frames']}: the real clip is classified {real_top[0]!r} "
        f"({CLASS!r} at rank {real_rank[0]})")
    rows, pairs = [], []
    for weight in weights:
        for layer in args.layers:
            t = time.perf_counter()
            result = sv.invert(model, layer, clip, preset=preset(weight), steps=args.steps,
                               seed=args.seed)
            seconds = time.perf_counter() - t
            inv = result.config["inversion"]
            ranks, tops = rank(result.inputs["clip"])
            row = {"layer": layer, "weight": weight, "steps": args.steps,
                   "feature_error": inv["feature_error"][0],
                   "start_error": float(-result.trace["objective"][0, 0]),
                   "correlation": inv["correlation"]["clip"][0], "top1": tops[0],
                   "rank": ranks[0], "kept": tops[0] == CLASS, "seconds": round(seconds, 1)}
            rows.append(row)
            log(f"  weight {weight:g} {layer:14s} error {row['feature_error']:.4f} (from "
                f"{row['start_error']:.3f}), correlation {row['correlation']:+.3f}, top-1 "
                f"{row['top1']!r}, {CLASS!r} rank {row['rank']}, {seconds:.0f} s")
            if args.out is not None:
                stem = result.save(args.out / f"i3d_{layer}_w{weight:g}")
                caption = (f"{layer}, regularizers x {weight:g}: normalized feature error "
                           f"{row['feature_error']:.4f}, correlation {row['correlation']:+.3f}, "
                           f"classified {row['top1']!r}")
                pairs += pairs_for(f"I3D: the cricket clip and its reconstruction from {layer}",
                                   clip, result, [caption])
                log(f"    -> {stem}.npz")
    return {"framework": fw, "clip": CLIP.name, "frames": clip.details["frames"],
            "real_top1": real_top[0], "real_rank": real_rank[0], "rows": rows}, pairs


def demo(args, weights, log):
    import stviz_core as sv
    from stviz_adapters.demo.model import load_demo_model
    from stviz_adapters.demo.synthetic_actions import CLASSES, make_split

    model = load_demo_model()
    split = make_split("val", per_class=1)
    clip = sv.Clip(split.inputs(), source="demo validation split, clip 0 of each class")
    classes = list(CLASSES)

    def predicted(inputs):
        be = sv.select_plugin(model).create(model, layer="fc8")
        try:
            logits = sv.codes.encode(be, inputs).activations.reshape(len(split), -1)
        finally:
            be.close()
        return [classes[i] for i in np.argmax(logits, axis=1)]

    truth = [classes[i] for i in split.labels]
    real = predicted(clip.inputs)
    rows, pairs = [], []
    for weight in weights:
        t = time.perf_counter()
        result = sv.invert(model, "conv5_fusion", clip, preset=preset(weight),
                           steps=args.demo_steps, seed=args.seed)
        inv = result.config["inversion"]
        got = predicted(result.inputs)
        row = {"weight": weight, "steps": args.demo_steps, "feature_error": inv["feature_error"],
               "correlation": inv["correlation"], "truth": truth, "real": real, "reconstruction": got,
               "kept": sum(g == r for g, r in zip(got, real)), "seconds":
               round(time.perf_counter() - t, 1)}
        rows.append(row)
        log(f"  demo conv5_fusion, weight {weight:g}: median error "
            f"{np.median(row['feature_error']):.4f} (max {max(row['feature_error']):.4f}), class "
            f"kept {row['kept']}/{len(got)}, median correlation rgb "
            f"{np.median(inv['correlation']['rgb']):+.3f} flow "
            f"{np.median(inv['correlation']['flow']):+.3f}, {row['seconds']:.0f} s")
        if args.out is not None:
            result.save(args.out / f"demo_conv5_fusion_w{weight:g}")
            pairs += pairs_for(
                f"Two-stream demo net: validation clips and their joint reconstruction from "
                f"conv5_fusion (regularizers x {weight:g})", clip, result,
                [f"{truth[n]}: error {row['feature_error'][n]:.4f}, rgb correlation "
                 f"{inv['correlation']['rgb'][n]:+.3f}, flow {inv['correlation']['flow'][n]:+.3f}; "
                 f"classified {got[n]}" for n in range(len(got))])
    return {"clips": len(split), "rows": rows}, pairs


def table(summary) -> str:
    k = summary["kinetics"]
    lines = [f"Kinetics-400 I3D ({k['framework']}), {k['size']}, clip {k['clip']} (frames "
             f"{k['frames'][0]}-{k['frames'][1] - 1}; the real clip: top-1 {k['real_top1']!r}, "
             f"{CLASS!r} rank {k['real_rank']}). Paper preset, regularizer weights times the "
             "factor, no jitter, seed 0.", "",
             "| layer | regularizers x | steps | feature error (start) | <= 0.05 | correlation | "
             "top-1 | 'playing cricket' rank | seconds |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in k["rows"]:
        lines.append(f"| {r['layer']} | {r['weight']:g} | {r['steps']} | {r['feature_error']:.4f} "
                     f"({r['start_error']:.3f}) | {'yes' if r['feature_error'] <= TARGET_ERROR else 'no'} "
                     f"| {r['correlation']:+.3f} | {r['top1']} | {r['rank']} | {r['seconds']} |")
    if summary.get("demo"):
        d = summary["demo"]
        lines += ["", f"Two-stream demo net, conv5_fusion, one validation clip per class ({d['clips']}), "
                  "appearance and motion inverted jointly:", "",
                  "| regularizers x | steps | median error | max error | median corr. rgb | "
                  "median corr. flow | class kept | seconds |", "|---|---|---|---|---|---|---|---|"]
        for r in d["rows"]:
            lines.append(f"| {r['weight']:g} | {r['steps']} | {np.median(r['feature_error']):.4f} | "
                         f"{max(r['feature_error']):.4f} | {np.median(r['correlation']['rgb']):+.3f} | "
                         f"{np.median(r['correlation']['flow']):+.3f} | {r['kept']}/{d['clips']} | "
                         f"{r['seconds']} |")
    return "\n".join(lines)


def main(argv=None):
    args = parser().parse_args(argv)
    if args.quick:
        args.frames, args.size, args.steps, args.demo_steps = 8, 64, 5, 5
        args.layers, args.weight = "Conv3d_2c_3x3,Mixed_4f", "0.01"
    args.layers = [s.strip() for s in args.layers.split(",") if s.strip()]
    weights = [float(w) for w in args.weight.split(",") if w.strip()]
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    log = lambda *a: print(*a, flush=True)  # noqa: E731
    kin, pairs = kinetics(args, weights, log)
    kin["size"] = f"{args.frames} x {args.size} x {args.size}"
    summary = {"kinetics": kin}
    if not args.no_demo:
        summary["demo"], more = demo(args, weights, log)
        pairs += more
    summary["seconds"] = round(time.perf_counter() - t0, 1)
    text = table(summary) + f"\n\nWhole script: {summary['seconds']} s."
    print(text)
    if args.out is not None:
        from stviz_adapters.media.report import write_report

        (args.out / "inversion.json").write_text(json.dumps(summary, indent=1) + "\n")
        write_report(args.out, [], title="stviz: feature inversion (benchmarks/inversion.py)",
                     pairs=pairs, log=log)
    if not args.no_record and not args.quick:
        record("Feature inversion (benchmarks/inversion.py)", text)
    return summary


if __name__ == "__main__":
    main()
