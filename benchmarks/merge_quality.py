"""One preset's yardsticks (issue 24) from runs of ``kinetics_quality.py`` split over processes.

On 2 shared CPU cores the 20 classes and 16 ``Mixed_5c`` channels of one preset take too long
in one process; they can run as several (``--class-list`` for parts of the classes, a run with
``--channels 16``), each with ``--save-clips --out DIR``. This reads the runs' JSON and saved
visualizations and gives the preset's row as one run would have: top-1 / top-5 under views
over all its classes (each class counts once: a class in two runs, e.g. the feature-space
check's, is taken from the first), the medians of pixel std, colourfulness, edge-frame
parity and the spectral slopes over all class and channel visualizations, the cross-unit
correlation over all pairs of the classes and of the channels (across runs too), and the
feature-space check of the run that made it. The real clips' values are the first run's (every
run must have used the same clips and ``--windows``: checked).

Run::

    python benchmarks/merge_quality.py --preset canvas DIR1 DIR2 DIR3 [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

import quality_measures as qm

REAL_KEYS = ("spatial", "temporal", "pixel_std", "colourfulness", "parity")
ITEM_KEYS = ("pixel_std", "colourfulness", "parity", "spatial_slope", "temporal_slope")


def merge(folders, preset: str) -> dict:
    """The merged row of ``preset`` over the runs in ``folders`` (module notes)."""
    runs = [json.loads((Path(f) / "kinetics_quality.json").read_text()) for f in folders]
    real = {k: runs[0]["real"][k] for k in REAL_KEYS}
    for f, run in zip(folders, runs):
        if any(abs(run["real"][k] - real[k]) > 1e-9 for k in REAL_KEYS):
            raise ValueError(f"{f}: other real clips or windows than {folders[0]}'s")
    per_class, class_clips, channel_clips, items, feature, seeds = {}, {}, [], [], None, set()
    for f, run in zip(folders, runs):
        entry = next((e for e in run["presets"] if e["preset"] == preset), None)
        if entry is None:
            continue
        seeds.add((run["settings"]["seed"], run["settings"].get("view_seed", 1)))
        saved = np.load(Path(f) / f"clips_{preset}.npz")
        for name, clip in zip(saved["class_names"], saved["classes"]):
            if str(name) not in per_class:
                per_class[str(name)] = entry["classes"]["per_class"][str(name)]
                class_clips[str(name)] = clip
        if "channels" in entry:
            channel_clips += list(saved["channels"])
            items += list(entry["channels"]["per_channel"].values())
        feature = feature or entry.get("feature")
    if not per_class:
        raise ValueError(f"no run of {folders} measured {preset!r}")
    if len(seeds) > 1:
        raise ValueError(f"the runs used different seeds (seed, view seed): {sorted(seeds)}")
    items = list(per_class.values()) + items
    row = {"preset": preset, "classes": len(per_class), "channels": len(channel_clips),
           "top1": float(np.mean([v["top1"] for v in per_class.values()])),
           "top5": float(np.mean([v["top5"] for v in per_class.values()])),
           "clean_top1": float(np.mean([v["clean_rank"] == 0 for v in per_class.values()])),
           **{k: float(np.nanmedian([v[k] for v in items])) for k in ITEM_KEYS},
           "correlation_classes": qm.median_correlation(np.stack(list(class_clips.values()))),
           "correlation_channels": (qm.median_correlation(np.stack(channel_clips))
                                    if len(channel_clips) > 1 else float("nan")),
           "feature": None if feature is None else {k: feature[k] for k in ("closer", "of")}
           | {"raw": feature.get("raw", {}).get("closer")},
           "per_class_top1": {c: v["top1"] for c, v in per_class.items()}}
    return {"real": real, "row": row}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="+", help="--out folders of kinetics_quality.py runs")
    p.add_argument("--preset", required=True, help="the preset's label in those runs")
    p.add_argument("--json", default=None, help="also write the merged row here")
    args = p.parse_args(argv)
    out = merge(args.folders, args.preset)
    r, real = out["row"], out["real"]
    print(f"{r['preset']}: {r['classes']} classes, {r['channels']} channels; views top-1 "
          f"{r['top1']:.2f} top-5 {r['top5']:.2f} clean {r['clean_top1']:.2f}; pixel std "
          f"{r['pixel_std']:.1f} ({r['pixel_std'] / real['pixel_std']:.2f}x), colourfulness "
          f"{r['colourfulness']:.1f} ({r['colourfulness'] / real['colourfulness']:.2f}x), parity "
          f"{r['parity']:.2f}, slopes {r['spatial_slope']:.2f} / {r['temporal_slope']:.2f} "
          f"(real {real['spatial']:.2f} / {real['temporal']:.2f}), correlation "
          f"{r['correlation_classes']:.2f} / {r['correlation_channels']:.2f}, feature "
          f"{r['feature']}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
