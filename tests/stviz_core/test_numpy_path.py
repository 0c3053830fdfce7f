"""The kernel's numpy fast paths (issue 27: the Keras backend runs the kernel in numpy) give the
array-API results, and float32 stays float32."""

import numpy as np
import pytest

from stviz_core.regularizers import channel_dot
from stviz_core.resample import _read


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 6])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_channel_dot_is_the_channel_sum_in_the_working_dtype(channels, dtype):
    rng = np.random.default_rng(channels)
    a = rng.standard_normal((2, 3, 4, 5, channels)).astype(dtype)
    b = rng.standard_normal((2, 3, 4, 5, channels)).astype(dtype)
    got = channel_dot(a, b, np)
    assert got.dtype == dtype and got.shape == a.shape[:-1]
    want = np.sum(a.astype(np.float64) * b, axis=-1)
    assert np.allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


def test_read_adds_each_neighbour_like_the_weighted_sum_over_them():
    rng = np.random.default_rng(1)
    n, per_item, p, k, width = 2, 30, 7, 4, 5
    rows = rng.standard_normal((n * per_item, width)).astype(np.float32)
    index = rng.integers(0, per_item, (n, p, k))
    weight = rng.random((n, p, k)).astype(np.float32)
    got = _read(rows, index, weight, per_item, np)
    want = np.stack([sum(weight[i, :, j, None] * rows[i * per_item + index[i, :, j]]
                         for j in range(k)) for i in range(n)])
    assert got.dtype == np.float32 and np.allclose(got, want, rtol=1e-6, atol=1e-6)
