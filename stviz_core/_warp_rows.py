"""A :class:`~stviz_core.transforms.Warp`'s sampling from its numbers, and its stages in pixel rows.

The numbers are a step's :func:`~stviz_core.resample.warp_numbers` rows on the device, ``(N,
len(COLUMNS))``. :func:`time_matrix`, :func:`box_axis` and :func:`box_grid` make the
positions the warp reads (time as a hat matrix, the crop's box as positions along each
axis); :func:`apply` and :func:`adjoint` run the whole warp where the backend has no fused
read (numpy: the Keras backend's kernel, issue 27), in the pixel rows of
:func:`stviz_core._sampling.to_rows`: time goes into and out of them in its matrix product
(numpy: a multiply-add per hat weight, then the transpose; no BLAS), the crop reads two rows
or columns per output and its adjoint three candidates per source
(:func:`~stviz_core._sampling.taps`: the hat matrices' nonzero entries only), and the plane
gathers whole rows. The results are the hat-matrix and four-neighbour reads'
of :mod:`stviz_core._sampling` with the sums in another order.
"""

from __future__ import annotations

from ._sampling import (from_rows, hat_matrix, plane_adjoint_rows, plane_points, plane_rows,
                        snap, taps, taps_adjoint, time_from_rows, time_to_rows, to_rows)
from ._xp import array_device

__all__ = ["time_matrix", "box_axis", "box_grid", "apply", "adjoint"]


def time_matrix(warp, nums, xp):
    """``(N, T, T')``: output frame ``t`` reads canvas frame ``start + clip(speed (t - c) + c
    + shift, 0, T - 1)``, linearly."""
    t, ct = warp.shape[0], warp.canvas[0]
    frames = xp.reshape(xp.arange(t, dtype=nums.dtype, device=array_device(nums)), (1, t))
    centre = (t - 1) / 2
    at = nums[:, 1:2] * (frames - centre) + centre + nums[:, 2:3]
    at = snap(xp.clip(at, min=0.0, max=float(t - 1)), xp) + nums[:, 0:1]
    return hat_matrix(at, ct, xp)


def box_axis(warp, nums, index, axis: int, xp):
    """Where the box's outputs ``index`` (a float array ``(..., N, P)``, or ``None``: all of them)
    read the canvas along ``axis`` (0: rows, ``top + (i + 1/2) box_h / H - 1/2``; 1: columns)."""
    size = warp.shape[1 + axis]
    if index is None:
        index = xp.arange(size, dtype=nums.dtype, device=array_device(nums))
    return snap(nums[:, 3 + axis:4 + axis] + (index + 0.5) * (nums[:, 5 + axis:6 + axis] / size)
                - 0.5, xp)


def box_grid(warp, nums, xp):
    """The box's points as a grid, ``(ax, ay)`` each ``(N, H, W)`` (for the backend's read)."""
    xs, ys = box_axis(warp, nums, None, 1, xp), box_axis(warp, nums, None, 0, xp)
    n, h, w = xs.shape[0], ys.shape[1], xs.shape[1]
    return (xp.broadcast_to(xp.reshape(xs, (n, 1, w)), (n, h, w)),
            xp.broadcast_to(xp.reshape(ys, (n, h, 1)), (n, h, w)))


def apply(warp, x, nums, xp):
    """The warp's time, crop and plane stages of ``x`` ``(N, T', H', W', C)`` (no flow map)."""
    t, h, w, _ = warp.shape
    rows = time_to_rows(x, time_matrix(warp, nums, xp), xp) if warp.timed else to_rows(x, xp)
    if warp.crop:
        n, ch, cw, d = rows.shape
        rows = taps(xp.reshape(rows, (n, 1, ch, cw * d)), box_axis(warp, nums, None, 0, xp), xp)
        rows = taps(xp.reshape(rows, (n, h, cw, d)), box_axis(warp, nums, None, 1, xp), xp)
    if warp.spatial:
        rows = plane_rows(rows, *plane_points(nums[:, 11:15], h, w, xp), xp)
    return from_rows(rows, t, xp)


def adjoint(warp, g, nums, xp):
    """The adjoint of :func:`apply` for ``g`` ``(N, T, H, W, C)``: ``(N, T', H', W', C)``."""
    t, h, w, _ = warp.shape
    rows = to_rows(g, xp)
    if warp.spatial:
        rows = plane_adjoint_rows(rows, nums[:, 7:11], nums[:, 11:15], (h, w), xp,
                                  within=warp.within)
    if warp.crop:
        _, ch, cw, _ = warp.canvas
        n, d = rows.shape[0], rows.shape[3]
        rows = taps_adjoint(rows, lambda i: box_axis(warp, nums, i, 1, xp), nums[:, 6:7] / w,
                            cw, xp)
        rows = taps_adjoint(xp.reshape(rows, (n, 1, h, cw * d)),
                            lambda i: box_axis(warp, nums, i, 0, xp), nums[:, 5:6] / h, ch, xp)
        rows = xp.reshape(rows, (n, ch, cw, d))
    if warp.timed:
        return time_from_rows(rows, time_matrix(warp, nums, xp), xp)
    return from_rows(rows, t, xp)
