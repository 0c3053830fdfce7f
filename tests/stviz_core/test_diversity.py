"""Diversity: the Gram cosine term's values, its exact gradient, and its effect in a run."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import stviz_core as sv
from stviz_core import presets
from stviz_core.diversity import check_weight, gram_similarity, gram_similarity_value_grad
from stviz_core.testing import LinearBackend

from tests.conftest import asarray, host

act_shapes = st.tuples(st.integers(2, 4), st.integers(1, 3), st.integers(1, 4), st.integers(1, 5))


@given(act_shapes, st.integers(0, 2**16))
def test_gradient_matches_finite_differences(xp, shape, seed):
    rng = np.random.default_rng(seed)
    a = asarray(xp, rng.standard_normal(shape))
    d = asarray(xp, rng.standard_normal(shape))
    eps = 1e-6
    numeric = float(xp.sum(gram_similarity(a + eps * d)) - xp.sum(gram_similarity(a - eps * d))) / (2 * eps)
    exact = float(xp.sum(gram_similarity_value_grad(a)[1] * d))
    assert exact == pytest.approx(numeric, rel=1e-6, abs=1e-7)


def test_values(xp):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1, 3, 4))
    same = asarray(xp, np.concatenate([a, a, 2 * a]))
    np.testing.assert_allclose(host(gram_similarity(same)), [1.0, 1.0, 1.0])
    # orthogonal channel supports: Gram matrices with disjoint entries have cosine 0
    b = np.zeros((2, 2, 2))
    b[0, :, 0], b[1, :, 1] = 1.0, 1.0
    np.testing.assert_allclose(host(gram_similarity(asarray(xp, b))), [0.0, 0.0], atol=1e-15)
    assert host(gram_similarity(asarray(xp, a))).tolist() == [0.0]  # no pair
    zero = np.concatenate([a, np.zeros_like(a)])
    value, grad = gram_similarity_value_grad(asarray(xp, zero))
    assert np.isfinite(host(grad)).all() and host(value).tolist() == [0.0, 0.0]


def test_weight_domain():
    assert check_weight(0) == 0.0
    with pytest.raises(ValueError, match="diversity weight must be >= 0, got -0.1"):
        check_weight(-0.1)


def _backend():
    rng = np.random.default_rng(2)
    return LinearBackend({"rgb": rng.standard_normal((1, 3, 3, 3, 6))},
                         {"rgb": ((1, 8, 8, 3), "appearance")}, xp=np)


def test_diversity_spreads_one_unit_over_a_batch():
    """Several seeds of one unit: the Gram similarity of their activations falls with the term on."""
    be = _backend()
    kwargs = dict(steps=60, seed=[0, 1, 2, 3], stride=0, objective_scale="paper", preset="paper")
    plain = sv.ascend(be, sv.channel(0), diversity=0.0, **kwargs)
    # the weight is in the objective's units: here about a third of its value
    diverse = sv.ascend(be, sv.channel(0), diversity=1000.0, **kwargs)
    sim = [gram_similarity(be.activations({"rgb": r.inputs["rgb"]})).mean() for r in (plain, diverse)]
    assert sim[0] > 0.99 and sim[1] < 0.7
    corr = [np.corrcoef(r.inputs["rgb"].reshape(4, -1))[np.triu_indices(4, 1)].mean()
            for r in (plain, diverse)]
    assert corr[1] < corr[0] - 0.2
    assert diverse.final["objective"].min() > 0.5 * plain.final["objective"].min()
    assert "diversity" not in plain.trace and diverse.trace["diversity"].shape == (60, 4)
    t = diverse.trace
    np.testing.assert_allclose(t["total"], t["objective"] - t["rgb/norm"] - t["rgb/tv"] - t["diversity"])
    assert diverse.final["diversity"].shape == (4,)
    assert diverse.config["diversity"]["weight"] == 1000.0


def test_diversity_with_one_visualization_is_zero_and_bad_weights_are_refused():
    r = sv.ascend(_backend(), sv.channel(0), steps=3, diversity=1.0, preset="paper")
    assert "diversity" not in r.trace
    with pytest.raises(ValueError, match="diversity weight must be >= 0"):
        sv.ascend(_backend(), sv.channel(0), steps=3, diversity=-1.0, preset="paper")
    with pytest.raises(ValueError, match="diversity weight must be >= 0"):
        presets.fourier(diversity=-2)
