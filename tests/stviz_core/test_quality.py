"""The automatic objective scale and the measured quality of each visualization (#16 item 1)."""

import numpy as np
import pytest

import stviz_core as sv
from stviz_core import quality
from stviz_core.result import Result
from stviz_core.testing import LinearBackend


def tiny_backend():
    rng = np.random.default_rng(0)
    return LinearBackend({"rgb": 1e-4 * rng.standard_normal((1, 3, 3, 3, 2))},
                         {"rgb": ((1, 8, 8, 3), "appearance")}, xp=np)


def test_auto_scale_makes_the_unit_term_commensurate_with_the_regularizers():
    be = tiny_backend()
    runs = {m: sv.ascend(be, [sv.channel(0), sv.channel(1)], steps=40, seed=[0, 1],
                         objective_scale=m, preset="paper") for m in ("auto", "paper")}
    auto, paper = (runs[m].config["quality"] for m in ("auto", "paper"))
    # the unit starts with the reference regularizer's gradient norm: commensurate, about half
    assert all(0.3 < q["unit_share_start"] <= 0.5 + 1e-9 for q in auto)
    assert all(q["unit_share_end"] > 0.3 for q in auto)
    assert all(q["unit_share_end"] < 0.1 and q["scale"] == 1.0 for q in paper)
    assert runs["auto"].config["objective_scale"]["applied"] == "auto"
    assert runs["paper"].config["objective_scale"]["applied"] == "paper"
    assert all(quality.warnings(q) == [] for q in auto)
    assert all(any("regularizer-dominated" in w for w in quality.warnings(q)) for q in paper)


def test_a_given_a_hat_keeps_eq_1_literal():
    be = tiny_backend()
    kwargs = dict(steps=10, seed=[0, 1], a_hat=[2.0, 3.0], preset="paper")
    auto = sv.ascend(be, [sv.channel(0), sv.channel(1)], **kwargs)
    paper = sv.ascend(be, [sv.channel(0), sv.channel(1)], objective_scale="paper", **kwargs)
    np.testing.assert_array_equal(auto.inputs["rgb"], paper.inputs["rgb"])
    assert auto.config["objective_scale"]["applied"] == "paper"
    q = auto.config["quality"]
    # gain over a_hat: the final objective with rho = 1, i.e. the channel sum over a_hat
    acts = be.activations({"rgb": auto.inputs["rgb"]})
    sums = acts.reshape(2, -1, acts.shape[-1]).sum(axis=1)
    assert q[0]["gain_a_hat"] == pytest.approx(sums[0, 0] / 2.0)
    assert q[1]["gain_a_hat"] == pytest.approx(sums[1, 1] / 3.0)


def test_unknown_objective_scale_lists_the_valid_ones():
    with pytest.raises(ValueError, match="auto, paper"):
        sv.ascend(tiny_backend(), sv.channel(0), steps=1, objective_scale="lucid", preset="paper")


def test_metrics_on_a_constructed_case():
    assert quality.auto_factors([2.0, 0.0, np.nan, 1.0], [4.0, 1.0, 1.0, 0.0]).tolist() == \
        [2.0, 1.0, 1.0, 1.0]
    a = np.arange(24.0).reshape(1, 1, 2, 4, 3)
    noise = np.random.default_rng(0).standard_normal(a.shape)
    inputs = {"rgb": np.concatenate([a, 2 * a + 1, noise])}
    dist = quality.distinctness(inputs)
    assert dist[0] == pytest.approx(1.0) and dist[1] == pytest.approx(1.0)
    assert dist[2] == pytest.approx(np.corrcoef(noise.ravel(), a.ravel())[0, 1])
    assert np.isnan(quality.distinctness({"rgb": a})).all()

    class Run:
        batch, used = 3, ("rgb",)

    start = (np.array([1.0, -2.0, 0.0]), np.array([1.0, 1.0, 0.0]), np.array([3.0, 1.0, 0.0]))
    end = (np.array([4.0, 2.0, 1.0]), np.array([1.0, 9.0, 0.0]), np.array([1.0, 1.0, 2.0]))
    q = quality.measure(start, end, np.array([1.0, 2.0, 1.0]), inputs, Run())
    assert [e["unit_share_start"] for e in q] == [0.25, 0.5, None]
    assert [e["unit_share_end"] for e in q] == [0.5, 0.9, 0.0]
    assert [e["gain"] for e in q] == [4.0, 1.0, None]
    assert q[1]["scale"] == 2.0 and q[0]["gain_a_hat"] is None
    assert quality.warnings(q[2]) and "regularizer-dominated" in quality.warnings(q[2])[0]
    assert "indistinct" in quality.warnings(q[0])[-1]


def test_quality_round_trips_and_old_results_load(tmp_path):
    r = sv.ascend(tiny_backend(), [sv.channel(0)], steps=3, seed=[0], preset="paper")
    q = r.config["quality"]
    assert len(q) == 1 and q[0]["distinctness"] is None  # a single visualization
    assert Result.load(r.save(tmp_path / "a")).config == r.config
    old = Result(r.inputs, {k: v for k, v in r.config.items() if k != "quality"}, r.trace, r.final)
    assert "quality" not in Result.load(old.save(tmp_path / "old")).config
    assert quality.warnings(None) == []


def test_cards_show_the_warnings_escaped(tmp_path):
    from stviz_adapters.media.manuscript import FolderMedia, result_cards

    r = sv.ascend(tiny_backend(), [sv.channel(0), sv.channel(1)], steps=3, seed=[0, 1],
                  objective_scale="paper", preset="paper")
    (tmp_path / "configs").mkdir()
    (tmp_path / "media").mkdir()
    cards = result_cards(FolderMedia(tmp_path), "L", "run", r, {})
    assert all("class='warn'>warning: regularizer-dominated" in c for c in cards)
    assert "objective_scale=&#x27;auto&#x27;" in cards[0]


def test_warnings_fire_on_a_random_i3d_and_not_on_the_trained_demo_model(capsys):
    pytest.importorskip("torch")
    from stviz_adapters.cli import _quality_warnings
    from stviz_adapters.demo.model import load_demo_model
    from stviz_adapters.zoo.declared_torch import i3d

    net = i3d(width=0.125, frames=8, input_size=64, seed=0)
    # eq. 1 literal (a_hat = 1), as before the automatic scale: the random network's units drown
    r = sv.visualize(net, "Mixed_5c", channels=[0, 1], steps=2, seed=0, objective_scale="paper", preset="paper")
    _quality_warnings(r, "random")
    err = capsys.readouterr().err
    assert err.count("regularizer-dominated") == 2 and "pass a_hat" in err

    r = sv.visualize(load_demo_model(), "conv5_fusion", channels=[0, 5], steps=5, seed=[0, 1], preset="paper")
    assert all(quality.warnings(q) == [] for q in r.config["quality"]), r.config["quality"]
    _quality_warnings(r, "demo")
    assert capsys.readouterr().err == ""
