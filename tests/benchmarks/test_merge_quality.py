"""benchmarks/merge_quality.py: one preset's row from runs split over processes."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import merge_quality  # noqa: E402
import quality_measures as qm  # noqa: E402

REAL = {"spatial": -1.6, "temporal": -0.8, "pixel_std": 50.0, "colourfulness": 40.0, "parity": 1.0}


def _run(folder, classes, top1, channels=0, seed=0, real=REAL, feature=None):
    rng = np.random.default_rng(len(classes) + channels)
    clips = rng.standard_normal((len(classes), 4, 6, 6, 3))
    chans = rng.standard_normal((channels, 4, 6, 6, 3))
    item = lambda c, i: {"pixel_std": float(c.std()), "colourfulness": float(i),  # noqa: E731
                         "parity": 1.0, "spatial_slope": -1.0, "temporal_slope": -0.5}
    entry = {"preset": "p", "classes": {"per_class": {
        n: {"top1": t, "top5": 1.0, "clean_rank": 0, **item(c, i)}
        for i, (n, t, c) in enumerate(zip(classes, top1, clips))}}}
    if channels:
        entry["channels"] = {"per_channel": {str(i): item(c, 10 + i) for i, c in enumerate(chans)}}
    if feature:
        entry["feature"] = feature
    folder.mkdir()
    (folder / "kinetics_quality.json").write_text(json.dumps(
        {"real": real, "settings": {"seed": seed, "view_seed": 1}, "presets": [entry]}))
    np.savez(folder / "clips_p.npz", classes=clips, class_names=np.array(classes), channels=chans)
    return clips, chans


def test_classes_count_once_and_correlations_span_the_runs(tmp_path):
    a, _ = _run(tmp_path / "a", ["x", "y"], [1.0, 0.5])
    b, ch = _run(tmp_path / "b", ["y", "z"], [0.0, 0.25], channels=3,
                 feature={"closer": 2, "of": 3, "raw": {"closer": 1}})
    out = merge_quality.merge([tmp_path / "a", tmp_path / "b"], "p")
    row = out["row"]
    assert row["classes"] == 3 and row["channels"] == 3
    assert row["top1"] == pytest.approx((1.0 + 0.5 + 0.25) / 3)  # y from the first run
    assert row["correlation_classes"] == pytest.approx(qm.median_correlation(
        np.stack([a[0], a[1], b[1]])))
    assert row["correlation_channels"] == pytest.approx(qm.median_correlation(ch))
    assert row["colourfulness"] == pytest.approx(np.median([0, 1, 1, 10, 11, 12]))
    assert row["feature"] == {"closer": 2, "of": 3, "raw": 1}


def test_runs_of_other_clips_or_seeds_are_refused(tmp_path):
    _run(tmp_path / "a", ["x"], [1.0])
    _run(tmp_path / "b", ["y"], [1.0], real={**REAL, "pixel_std": 49.0})
    with pytest.raises(ValueError, match="other real clips"):
        merge_quality.merge([tmp_path / "a", tmp_path / "b"], "p")
    _run(tmp_path / "c", ["y"], [1.0], seed=3)
    with pytest.raises(ValueError, match="different seeds"):
        merge_quality.merge([tmp_path / "a", tmp_path / "c"], "p")
    with pytest.raises(ValueError, match="no run"):
        merge_quality.merge([tmp_path / "a"], "q")
