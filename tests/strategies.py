"""Hypothesis strategies for canonical (N, T, H, W, C) volumes."""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

shapes = st.tuples(
    st.integers(1, 3),  # N
    st.integers(1, 4),  # T
    st.integers(1, 5),  # H
    st.integers(1, 5),  # W
    st.integers(1, 3),  # C
)


def volumes(shape=shapes, low=-10.0, high=10.0):
    """float64 arrays in the canonical layout with bounded finite entries."""
    return shape.flatmap(
        lambda s: arrays(
            np.float64, s,
            elements=st.floats(low, high, allow_nan=False, allow_infinity=False, width=64),
        )
    )


weights = st.floats(0.0, 10.0, allow_nan=False, allow_infinity=False)
alphas = st.sampled_from([1.0, 1.5, 2.0, 3.0, 6.0])
