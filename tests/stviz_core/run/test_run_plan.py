"""The ascent's parts on their own: the run plan, the trace and its non-finite check."""

import dataclasses

import numpy as np
import pytest

import stviz_core as sv
from stviz_core.run.config import run_config
from stviz_core.run.planning import plan_run
from stviz_core.optim import adam
from stviz_core.testing import LinearBackend
from stviz_core.run.trace import first_non_finite, host_trace, new_trace, record


def backend(used=None):
    be = LinearBackend({"rgb": np.ones((1, 3, 3, 3, 2)), "flow": np.ones((2, 3, 3, 2, 2))},
                       {"rgb": ((1, 5, 5, 3), "appearance"), "flow": ((2, 5, 5, 2), "motion")},
                       xp=np)
    if used is not None:
        be.used_inputs = used
    return be


def test_the_plan_fills_in_the_receptive_field_seeds_and_inputs():
    run = plan_run(backend(used=("rgb",)), [sv.channel(0), sv.channel(1)], steps=25, seed=3,
                   check_every=10, preset="paper")
    assert (run.rho, run.stride) == (3.0, 1)  # LinearBackend.receptive_field()
    assert run.seeds == (3, 3) and run.batch == 2
    assert run.used == ("rgb",) and run.frozen == ("flow",)
    assert [s for s in range(25) if run.is_check_step(s)] == [9, 19, 24]
    assert run.learning_rate(0) == run.schedule(0, 25)
    config = run_config(backend(), run, adam(moment=run.moment))
    assert config["optimized_inputs"] == ["rgb"] and config["seeds"] == [3, 3]


def test_given_stride_and_rho_win_and_the_plan_is_frozen():
    run = plan_run(backend(), sv.channel(0), stride=0, rho=7.5, preset="paper")
    assert (run.rho, run.stride, run.used) == (7.5, 0, ("flow", "rgb"))
    with pytest.raises(dataclasses.FrozenInstanceError):
        run.steps = 1


def test_the_trace_totals_and_finds_the_first_non_finite_entry():
    trace = new_trace({"rgb": None})
    assert list(trace) == ["objective", "rgb/norm", "rgb/tv", "total"]
    for step in range(4):
        tv = np.array([1.0, np.inf if step == 2 else 1.0])
        record(trace, np.array([5.0, 6.0]), {"rgb/tv": tv, "rgb/norm": np.array([0.5, 0.5])})
    rows = host_trace(trace)
    np.testing.assert_array_equal(rows["total"][0], [3.5, 4.5])
    assert host_trace(trace, rows=2)["objective"].shape == (2, 2)
    assert first_non_finite(trace, 0, 2) is None
    key, row, item, value = first_non_finite(trace, 1, 4)
    assert (key, row, item, value) == ("rgb/tv", 2, 1, np.inf)


@pytest.mark.parametrize("a_hat, match", [
    ([1.0, float("inf")], r"a_hat\[1\] must be > 0 and finite \(domain 0 < a_hat\[c\] < inf\), got inf"),
    ([float("nan"), 2.0], r"a_hat\[0\] must be > 0 and finite.*got nan"),
    ([2.0, 0.0], r"a_hat\[1\] must be > 0.*got 0.0.*Activity.normalizer"),
    ([-1.0, -2.0], r"a_hat\[0\] must be > 0.*\(2 entries outside it: \[0, 1\]\)"),
    ([], "a_hat is empty"),
    ([1.0, 2.0, 3.0], r"a_hat has 3 entries but the target layer has 2 channels"),
])
def test_a_bad_a_hat_is_refused_when_the_run_is_planned(a_hat, match):
    be = backend()
    be.activation_shape = (1, 1, 3, 3, 2)
    with pytest.raises(ValueError, match=match):
        plan_run(be, sv.channel(0), a_hat=a_hat, preset="paper")
    assert be.calls == 0  # refused before any forward pass
    with pytest.raises(ValueError, match=match.split(" has ")[0]):
        sv.ascend(be, sv.channel(0), a_hat=a_hat, steps=2, preset="paper")


def test_a_hat_that_is_not_a_sequence_of_numbers_is_refused():
    for bad, match in ((3.0, "a_hat must be a sequence of numbers"), (np.ones((2, 2)), "shape"),
                       (["x", 1.0], r"a_hat\[0\] must be a number")):
        with pytest.raises(TypeError, match=match):
            plan_run(backend(), sv.channel(0), a_hat=bad, preset="paper")
    assert plan_run(backend(), sv.channel(0), a_hat=np.array([2.0, 3.0]), preset="paper").context.a_hat == [2.0, 3.0]


def test_units_past_the_channel_count_are_refused_before_any_noise_is_allocated(monkeypatch):
    from stviz_core.run import loop

    be = backend()
    be.activation_shape, be.layer = (1, 1, 3, 3, 2), "conv5"
    monkeypatch.setattr(loop, "initial_inputs", lambda *a, **k: pytest.fail("noise was allocated"))
    many = [sv.channel(c) for c in range(200_000)]
    with pytest.raises(ValueError, match=r"channels 2, 3, 4, 5, 6, \.\.\. \(199998 in all\) are out "
                                         r"of range: the layer has 2 channels \(0\.\.1\) "
                                         r"\[layer 'conv5'\]"):
        sv.ascend(be, many, steps=2, preset="paper")
    with pytest.raises(ValueError, match=r"channel 7 is out of range"):
        sv.ascend(be, 0.5 * sv.channel(0) + sv.neuron(7), steps=2, preset="paper")
    assert plan_run(be, [sv.channel(1), sv.neuron(0)], preset="paper").batch == 2
