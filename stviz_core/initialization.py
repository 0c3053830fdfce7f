"""Initial inputs: uniform noise scaled to the bound, as Mahendran & Vedaldi start."""

from __future__ import annotations

import numpy as np

from ._checks import positive

__all__ = ["uniform_noise"]


def uniform_noise(shape, *, bound, scale=1.0, rng) -> np.ndarray:
    """Uniform noise for one visualization, in float64 on the host.

    Each channel is drawn from ``U(-a, a)`` with ``a = scale * bound / sqrt(C)``,
    so every pixel vector has norm ``<= scale * bound`` and starts inside the
    hard bound. Drawn with ``numpy`` from ``rng`` so that every backend starts
    from the same numbers for the same seed.

    Parameters
    ----------
    shape : tuple
        ``(T, H, W, C)``.
    bound : float
        The stream's hard bound ``B``.
    scale : float
        Fraction of the bound.
    rng : numpy.random.Generator
    """
    positive(bound, "bound")
    positive(scale, "scale")
    amplitude = scale * bound / np.sqrt(shape[-1])
    return rng.uniform(-amplitude, amplitude, size=tuple(shape))
