"""Jitter: random integer shifts of the input before each forward pass.

The paper shifts the input spatially by a random offset between 0 and the
stride of the optimized layer (every pooling and strided convolution below it
accumulated). Here the shift **wraps around** (a roll): pixels leaving one edge
re-enter at the other, the input keeps its size, and the roll is its own
adjoint's inverse, so the gradient is rolled back exactly. All inputs of one
visualization (appearance and motion) get the same offset, which keeps the
two streams aligned; frames are never shifted in time.
"""

from __future__ import annotations

import numpy as np

from ._checks import non_negative
from ._xp import namespace

__all__ = ["offsets", "shift", "unshift"]

_SPATIAL = (2, 3)  # H and W of (N, T, H, W, C)


def offsets(rng, steps: int, stride: int) -> np.ndarray:
    """Offsets for a whole run, ``(steps, 2)`` integers in ``0..stride`` (inclusive).

    Parameters
    ----------
    rng : numpy.random.Generator
        The visualization's jitter generator.
    steps : int
    stride : int
        Cumulative stride of the target layer; 0 switches jitter off.
    """
    stride = int(non_negative(stride, "stride"))
    if stride == 0:
        return np.zeros((steps, 2), dtype=np.int64)
    return rng.integers(0, stride, size=(steps, 2), endpoint=True)


def shift(x, offs, /, *, xp=None):
    """Roll each visualization of ``x`` by its ``(dy, dx)`` row of ``offs`` (shape ``(N, 2)``).

    ``x`` is in the canonical layout ``(N, T, H, W, C)``; H and W wrap around.
    """
    return _roll(x, np.asarray(offs), namespace(x, xp=xp))


def unshift(g, offs, /, *, xp=None):
    """Undo :func:`shift` (and apply its adjoint): roll by the negated offsets."""
    return _roll(g, -np.asarray(offs), namespace(g, xp=xp))


def _roll(x, offs, xp):
    if not offs.any():
        return x
    if (offs == offs[0]).all():
        return xp.roll(x, shift=tuple(int(o) for o in offs[0]), axis=_SPATIAL)
    return xp.concat(
        [
            xp.roll(x[n : n + 1, ...], shift=tuple(int(o) for o in offs[n]), axis=_SPATIAL)
            for n in range(x.shape[0])
        ],
        axis=0,
    )
