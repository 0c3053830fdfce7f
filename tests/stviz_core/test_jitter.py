"""Jitter offsets: reproducible from the seed, inside 0..stride, and exactly undone."""

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from stviz_core import jitter

from tests.conftest import asarray, host


@given(st.integers(0, 2**32 - 1), st.integers(0, 32), st.integers(1, 200))
def test_offsets_are_reproducible_and_in_bounds(seed, stride, steps):
    a = jitter.offsets(np.random.default_rng(seed), steps, stride)
    b = jitter.offsets(np.random.default_rng(seed), steps, stride)
    assert a.shape == (steps, 2)
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 0 and a.max() <= stride


def test_offsets_cover_the_whole_range_inclusive():
    offs = jitter.offsets(np.random.default_rng(0), 2000, 4)
    assert set(np.unique(offs)) == {0, 1, 2, 3, 4}


def test_zero_stride_means_no_jitter():
    assert not jitter.offsets(np.random.default_rng(0), 10, 0).any()


@given(st.integers(0, 1000))
def test_shift_then_unshift_is_identity_and_shift_wraps(xp, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 2, 5, 4, 2))
    offs = rng.integers(0, 6, size=(3, 2))
    xa = asarray(xp, x)
    shifted = host(jitter.shift(xa, offs, xp=xp))
    for n in range(3):
        expected = np.roll(x[n], shift=tuple(offs[n]), axis=(1, 2))
        np.testing.assert_array_equal(shifted[n], expected)
    back = host(jitter.unshift(jitter.shift(xa, offs, xp=xp), offs, xp=xp))
    np.testing.assert_array_equal(back, x)


def test_unshift_is_the_adjoint_of_shift(xp):
    """<shift(x), y> == <x, unshift(y)>: the gradient is shifted back exactly."""
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((2, 2, 2, 6, 5, 3))
    offs = np.array([[1, 4], [3, 0]])
    lhs = np.sum(host(jitter.shift(asarray(xp, x), offs, xp=xp)) * y)
    rhs = np.sum(x * host(jitter.unshift(asarray(xp, y), offs, xp=xp)))
    assert np.isclose(lhs, rhs, rtol=1e-13)
