"""Grid rows and cards are titled by class name or layer and unit, columns by the setting that
acts (issue 24 item 4): not by the objective's repr, nor by a gamma the default preset ignores."""

import numpy as np
import pytest

pytest.importorskip("matplotlib")

import stviz_core as sv  # noqa: E402
from stviz_adapters.media.manuscript import setting_label, setting_order  # noqa: E402
from stviz_adapters.media.sections import cards_by_layer, grids_by_layer, unit_title  # noqa: E402


@pytest.mark.parametrize("objective, layer, title", [
    ("class_logit('playing cricket', location=())", "Logits", "Logits: playing cricket"),
    ("class_logit('playing cricket')", None, "playing cricket"),
    ("class_logit(\"it's\", location=())", "fc8", "fc8: it's"),
    ("class_logit(4, location=())", "fc8", "fc8: class 4"),
    ("channel(3)", "Mixed_5c", "Mixed_5c unit 3"),
    ("channel(3, normalize=False)", None, "unit 3"),
    ("0.0943 * channel(12, normalize=False)", "conv5_fusion", "conv5_fusion unit 12"),
    ("neuron(2, location=(1, 2, 3))", "conv3", "conv3 unit 2 at (1, 2, 3)"),
    ("channel(1) + channel(2)", "conv3", "channel(1) + channel(2)"),
    ("feature_match(Mixed_4f)", "Mixed_4f", "feature_match(Mixed_4f)"),
])
def test_a_unit_is_titled_by_class_or_layer_and_unit(objective, layer, title):
    assert unit_title(objective, layer) == title


def result(objectives, preset, lambda_tv, gamma=1.0, layer="Logits"):
    n = len(objectives)
    inputs = {"clip": {"gamma": gamma, "lambda_tv": lambda_tv, "role": "appearance"}}
    config = {"layer": layer, "objectives": objectives, "inputs": inputs, "preset": {"name": preset}}
    return sv.Result({"clip": np.zeros((n, 2, 4, 4, 3))}, config, {}, {})


def test_grid_rows_and_cards_of_classes_name_the_class_and_columns_the_setting():
    """What `stviz visualize --classes ...` draws: rows by class, the default's column by its name."""
    objectives = ["class_logit('playing cricket', location=())", "class_logit(7, location=())"]
    runs = [("Logits_gamma5", result(objectives, "paper", 1e-4, gamma=5.0)),
            ("Logits_gamma1", result(objectives, sv.presets.DEFAULT, 0.0)),
            ("Logits_gamma0", result(objectives, "paper", 1e-4, gamma=0.0))]
    (grid,) = grids_by_layer(runs)
    assert grid.unit_labels == ["Logits: playing cricket", "Logits: class 7"]
    # the default preset's gamma does not act: its column is named by the preset, and comes first
    assert list(grid.columns) == [sv.presets.DEFAULT, "gamma = 0", "gamma = 5"]
    (cards,) = cards_by_layer(runs)
    assert cards.unit_names[("Logits", objectives[0])] == "Logits: playing cricket"
    assert [stem for stem, _ in sorted(runs, key=setting_order)] == [
        "Logits_gamma1", "Logits_gamma0", "Logits_gamma5"]


def test_runs_that_share_a_setting_keep_their_own_columns():
    a, b = (result(["channel(0)"], sv.presets.DEFAULT, 0.0, gamma=g, layer="conv1") for g in (0.0, 5.0))
    assert setting_label(a) == setting_label(b) == sv.presets.DEFAULT
    (grid,) = grids_by_layer([("conv1_gamma0", a), ("conv1_gamma5", b)])
    assert list(grid.columns) == [sv.presets.DEFAULT, f"{sv.presets.DEFAULT} (conv1_gamma5)"]
    assert grid.unit_labels == ["conv1 unit 0"]
