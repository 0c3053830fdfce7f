"""Bad input to the public regularizer API gets a clear error naming the problem."""

import numpy as np
import pytest

from stviz_core import regularizers as R

from tests.conftest import asarray

GOOD = np.zeros((1, 2, 3, 3, 2))


@pytest.mark.parametrize("fn, kwargs", [
    (R.norm_bound, {"alpha": 3}), (R.norm_bound_grad, {"alpha": 3}),
    (R.project_to_bound, {"bound": 1.0}), (R.total_variation, {"kappa": 1, "gamma": 1}),
    (R.total_variation_grad, {"kappa": 1, "gamma": 1}),
])
def test_wrong_rank_names_the_layout(xp, fn, kwargs):
    with pytest.raises(ValueError, match=r"canonical layout \(N, T, H, W, C\).*got shape \(3, 3, 2\)"):
        fn(asarray(xp, np.zeros((3, 3, 2))), **kwargs)
    with pytest.raises(ValueError, match="non-finite"):
        bad = GOOD.copy()
        bad[0, 0, 0, 0, 0] = np.nan
        fn(asarray(xp, bad), **kwargs)


def test_bad_parameters(xp):
    x = asarray(xp, GOOD)
    with pytest.raises(ValueError, match="kappa must be >= 0, got -1.0"):
        R.total_variation(x, kappa=-1, gamma=0)
    with pytest.raises(ValueError, match="gamma must be >= 0, got -0.1"):
        R.total_variation_grad(x, kappa=1, gamma=-0.1)
    with pytest.raises(ValueError, match="alpha must be > 0, got 0.0"):
        R.norm_bound(x, alpha=0)
    with pytest.raises(ValueError, match="bound must be > 0, got -2.0"):
        R.project_to_bound(x, bound=-2)
    with pytest.raises(ValueError, match="bound must be finite"):
        R.project_to_bound(x, bound=float("inf"))
    with pytest.raises(TypeError, match="kappa must be a real number, got str"):
        R.total_variation(x, kappa="1", gamma=0)


def test_integer_arrays_and_non_arrays_are_refused():
    with pytest.raises(TypeError, match="real floating dtype"):
        R.norm_bound(np.zeros((1, 1, 2, 2, 3), dtype=np.int64), alpha=2)
    with pytest.raises(TypeError, match="expected arrays of an array-API library"):
        R.norm_bound([[1.0]], alpha=2)
    with pytest.raises(ValueError, match="empty axis"):
        R.norm_bound(np.zeros((1, 0, 2, 2, 3)), alpha=2)
