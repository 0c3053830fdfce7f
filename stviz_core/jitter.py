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
from ._xp import array_device, from_numpy, namespace

__all__ = ["offsets", "shift", "unshift", "source_index", "StepShift"]



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
    ``offs`` is a numpy array or an integer array of ``x``'s namespace and
    device; with the latter (what the ascent loop passes: every step's offsets
    go to the device once, before the run) the whole batch moves with one
    ``take`` of rows of the ``(N * T * H * W, C)`` array, whatever ``N``, and
    nothing waits for the device.
    """
    xp = namespace(x, xp=xp)
    return _move(x, offs, xp, 1)


def unshift(g, offs, /, *, xp=None):
    """Undo :func:`shift` (and apply its adjoint): roll by the negated offsets."""
    xp = namespace(g, xp=xp)
    return _move(g, offs, xp, -1)


class StepShift:
    """One step's offsets, applied to every input of the batch; inputs of one size share the index.

    Parameters
    ----------
    offs : array
        ``(N, 2)`` integer offsets in the inputs' namespace and device (or numpy).
    xp : namespace
    """

    def __init__(self, offs, xp):
        self.offs, self.xp, self._index = offs, xp, {}

    def shift(self, x):
        """:func:`shift` by this step's offsets."""
        return _move(x, self.offs, self.xp, 1, self._index)

    def unshift(self, g):
        """:func:`unshift` by this step's offsets."""
        return _move(g, self.offs, self.xp, -1, self._index)


def _move(x, offs, xp, sign, cache=None):
    if isinstance(offs, np.ndarray) and not offs.any():
        return x
    if isinstance(x, np.ndarray) and isinstance(offs, np.ndarray):
        return _roll_blocks(x, offs, sign)
    if isinstance(offs, np.ndarray):
        offs = from_numpy(offs, xp, dtype=xp.int64, device=array_device(x))
    n, t, h, w, c = x.shape
    cache = {} if cache is None else cache
    if (h, w, sign) not in cache:
        cache[h, w, sign] = source_index(offs, h, w, sign, xp)
    if (n, t, h, w, sign) not in cache:
        # one index into the rows of the (N * T * H * W, C) array: frame (n, t) reads its own
        # frame's pixels at item n's positions (no index the size of x's channels)
        src = cache[h, w, sign]
        if n * t * h * w < 2**31:  # half the index traffic
            src = xp.astype(src, xp.int32)
        frames = xp.arange(n * t, dtype=src.dtype, device=array_device(src)) * (h * w)
        rows = xp.reshape(frames, (n, t, 1)) + xp.reshape(src, (n, 1, h * w))
        cache[n, t, h, w, sign] = xp.reshape(rows, (n * t * h * w,))
    moved = xp.take(xp.reshape(x, (n * t * h * w, c)), cache[n, t, h, w, sign], axis=0)
    return xp.reshape(moved, (n, t, h, w, c))


def _roll_blocks(x, offs, sign):
    """numpy's roll: each item's four blocks copied (the offsets are on the host already).

    ~6-10x faster than the row ``take`` (numpy copies a 12-byte row of 3 channels one by one);
    the other namespaces keep the ``take``, which reads the offsets on the device.
    """
    _, _, h, w, _ = x.shape
    out = np.empty_like(x)
    for item, (dy, dx) in enumerate(offs.tolist()):
        dy, dx = (sign * dy) % h, (sign * dx) % w
        for rows_to, rows_from in ((slice(dy, h), slice(0, h - dy)), (slice(0, dy), slice(h - dy, h))):
            for cols_to, cols_from in ((slice(dx, w), slice(0, w - dx)),
                                       (slice(0, dx), slice(w - dx, w))):
                out[item, :, rows_to, cols_to] = x[item, :, rows_from, cols_from]
    return out


def source_index(offs, height: int, width: int, sign: int, xp):
    """``(N, H * W)`` flat positions each output pixel reads after a roll by ``sign * offs``.

    Output pixel ``(i, j)`` of item ``n`` reads ``((i - s dy_n) mod H, (j - s dx_n) mod W)``.
    """
    device = array_device(offs)
    rows = xp.arange(height, dtype=offs.dtype, device=device)
    cols = xp.arange(width, dtype=offs.dtype, device=device)
    dy, dx = offs[:, 0:1], offs[:, 1:2]
    src_rows = (rows[None, :] - sign * dy) % height
    src_cols = (cols[None, :] - sign * dx) % width
    flat = src_rows[:, :, None] * width + src_cols[:, None, :]
    return xp.reshape(flat, (offs.shape[0], height * width))
