r"""The canvas: a field optimized larger than the clip, in time and in space, and its centre view.

A parameterization with ``canvas=(time, space)`` optimizes an input of
``(T', H', W') = (ceil(time T), ceil(space H), ceil(space W))`` (``T' = 1`` for a
single frame) and returns its centre ``(T, H, W)``: the *view*, with
``(T' - T) // 2`` frames before it and ``(H' - H) // 2`` rows above it. Each step
the network sees a crop of the canvas (:class:`stviz_core.transforms.Transforms`'s
``crop``), so the clip's edges are inside the canvas, not at the border the
network's padding sees, and a spectral field's periodic wrap-around (frame
``T' - 1`` next to frame 0) falls outside the view.

:class:`View` takes the view (a slice), its adjoint (the gradient placed in
the canvas with zeros around) and :meth:`View.embed`, a clip placed in a canvas
with the margins mirrored (``init=`` of a canvas field).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._checks import real
from .._xp import array_device
from ..transforms import check_crop

__all__ = ["check_canvas", "canvas_shape", "check_plan", "View", "CANVAS_DOMAIN"]

#: Valid canvas factors (each of time and space): the canvas is never smaller than the clip.
CANVAS_DOMAIN = (1.0, 4.0)


def check_canvas(value) -> tuple:
    """``value`` (a number for both, or ``(time, space)``) as a pair of floats in :data:`CANVAS_DOMAIN`."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = (value, value)
    lo, hi = CANVAS_DOMAIN
    try:
        pair = tuple(real(v, "canvas") for v in value)
    except (TypeError, ValueError):
        pair = ()
    if len(pair) != 2 or not all(lo <= v <= hi for v in pair):
        raise ValueError(f"canvas must be (time, space) factors of the clip's size, each in "
                         f"[{lo:g}, {hi:g}] (a canvas smaller than the clip has no view), "
                         f"got {value!r}")
    return pair


def canvas_shape(shape, canvas) -> tuple:
    """The canvas ``(T', H', W', C)`` of a clip ``(T, H, W, C)`` and factors ``(time, space)``."""
    t, h, w, c = shape
    time, space = canvas
    return (t if t == 1 else _grown(t, time), _grown(h, space), _grown(w, space), c)


def _grown(n, factor):
    return max(n, math.ceil(factor * n - 1e-9))


def check_plan(parameterization, transforms, specs) -> None:
    """Refuse, at planning, crops (``transforms.crop``) smaller than the clip in any input's
    canvas (:func:`stviz_core.transforms.check_crop`; one-line ``ValueError``)."""
    factors = getattr(parameterization, "canvas", (1.0, 1.0))
    for spec in specs.values():
        check_crop(getattr(transforms, "crop", None), tuple(spec.shape),
                   canvas_shape(tuple(spec.shape), factors))


class View:
    """The centre ``shape`` of a ``canvas``-shaped array ``(N, T', H', W', C)``.

    Parameters
    ----------
    shape, canvas : tuple
        ``(T, H, W, C)`` of the clip and ``(T', H', W', C)`` of the canvas.
    """

    def __init__(self, shape, canvas):
        self.shape, self.canvas = tuple(shape), tuple(canvas)
        self.before = tuple((n - m) // 2 for n, m in zip(self.canvas[:3], self.shape[:3]))
        self.after = tuple(n - m - b for n, m, b in zip(self.canvas[:3], self.shape[:3],
                                                         self.before))
        self.identity = self.shape == self.canvas

    def __call__(self, x):
        """The view of ``x`` (``x`` itself without a margin)."""
        if self.identity:
            return x
        (t, y, z), (nt, nh, nw) = self.before, self.shape[:3]
        return x[:, t:t + nt, y:y + nh, z:z + nw, :]

    def adjoint(self, g, xp):
        """The view's adjoint: ``g`` (clip-shaped) placed in a canvas of zeros."""
        if self.identity:
            return g
        for axis in (1, 2, 3):
            before, after = self.before[axis - 1], self.after[axis - 1]
            parts = [_zeros(g, axis, before, xp), g, _zeros(g, axis, after, xp)]
            g = xp.concat([p for p in parts if p is not None], axis=axis)
        return g

    def embed(self, x, xp):
        """A canvas whose view is ``x``, its margins ``x`` mirrored about its edges."""
        if self.identity:
            return x
        for axis in (1, 2, 3):
            n, before = self.shape[axis - 1], self.before[axis - 1]
            index = _mirror(np.arange(-before, self.canvas[axis - 1] - before), n)
            x = xp.take(x, xp.asarray(index, device=_device(x)), axis=axis)
        return x


def _mirror(i, n):
    """Positions ``i`` reflected into ``0..n-1`` (about the edge pixels' centres, period 2n - 2)."""
    if n == 1:
        return np.zeros_like(i)
    period = 2 * n - 2
    i = np.mod(i, period)
    return np.where(i < n, i, period - i).astype(np.int64)


def _zeros(like, axis, count, xp):
    if count == 0:
        return None
    shape = list(like.shape)
    shape[axis] = count
    return xp.zeros(tuple(shape), dtype=like.dtype, device=_device(like))


def _device(x):
    return array_device(x)
