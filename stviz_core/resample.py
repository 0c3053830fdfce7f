"""Linear resampling with exact adjoints: bilinear warps of the image plane and linear retiming.

Two implementations of the same maps:

* **On the device** (what a run uses, issue 27): the sampling positions are computed
  from a few numbers per visualization (a crop box, a matrix, a speed) by array-API
  code on the inputs' device, batched over the visualizations. Separable reads (a crop's
  box, time) are small dense matrices of hat weights ``max(0, 1 - |position - k|)``
  (:func:`hat_matrix`, applied with :func:`along`; the adjoint is the transpose); a
  warp of the plane (:func:`plane_points`) reads four neighbours with one ``take``
  (:func:`sample_plane`), and its adjoint gathers, for every source pixel, the outputs
  within the warp's reach that read it, with the very weights of the forward read
  (:func:`sample_plane_adjoint`): no scatter, nothing on the host. A backend may fuse
  the plane's read (its ``resample`` member: PyTorch's ``grid_sample``). The code is in
  :mod:`stviz_core._sampling`, its names importable from here.
* **On the host** (the numpy reference the tests compare against): a
  :class:`Table` ``out[p] = sum_k weight[p, k] * x[index[p, k]]`` built with numpy
  and applied with :func:`gather`; its adjoint is the transposed table.

Both give ``<T x, y> = <x, T^T y>`` to rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# the device's code lives in _sampling; its names stay importable from here
from ._sampling import (_SNAP, _read, along, hat_matrix, plane_points, reach,  # noqa: F401
                        sample_plane, sample_plane_adjoint, snap)
from ._xp import array_device, from_numpy
from .crops import check_crop, crop_start

__all__ = ["Table", "affine_table", "crop_table", "frame_table", "retime_table", "gather",
           "rotation_scale", "snap", "hat_matrix", "along", "plane_points", "sample_plane",
           "sample_plane_adjoint", "reach", "warp_numbers", "COLUMNS"]

@dataclass(frozen=True)
class Table:
    """A sparse resampling ``out[p] = sum_k weight[p, k] x[index[p, k]]``.

    Attributes
    ----------
    index : ndarray
        ``(P, K)`` integer positions in the flattened source axis.
    weight : ndarray
        ``(P, K)`` weights; 0 for padding.
    sources : int
        Length of the source axis.
    """

    index: np.ndarray
    weight: np.ndarray
    sources: int

    def transpose(self) -> "Table":
        """The adjoint: for each source position, the outputs it feeds and with what weight."""
        outputs, k = self.index.shape
        src, wt = self.index.ravel(), self.weight.ravel()
        dst = np.repeat(np.arange(outputs), k)
        keep = wt != 0
        order = np.argsort(src[keep], kind="stable")
        src, wt, dst = src[keep][order], wt[keep][order], dst[keep][order]
        counts = np.bincount(src, minlength=self.sources)
        start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank = np.arange(src.size) - start[src]
        width = max(int(counts.max(initial=0)), 1)
        index = np.zeros((self.sources, width), dtype=np.int64)
        weight = np.zeros((self.sources, width))
        index[src, rank], weight[src, rank] = dst, wt
        return Table(index, weight, outputs)


def rotation_scale(degrees: float, scale: float) -> np.ndarray:
    """``scale * R(degrees)`` acting on ``(x, y)`` image coordinates (x right, y down)."""
    a = np.deg2rad(degrees)
    return scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])


def affine_table(height: int, width: int, matrix) -> Table:
    """Bilinear sampling of an ``(H, W)`` image whose content moves by ``matrix`` about its centre.

    Content at ``q`` lands at ``p = matrix (q - c) + c`` (``(x, y)`` order, ``c``
    the image centre), so output pixel ``p`` reads the input at
    ``matrix^-1 (p - c) + c``; reads outside the image give 0 (the mean colour,
    zero motion).
    """
    ys, xs = np.mgrid[0:height, 0:width]
    centre = np.array([[(width - 1) / 2], [(height - 1) / 2]])
    at = np.linalg.inv(np.asarray(matrix, dtype=np.float64)) @ (
        np.stack([xs.ravel(), ys.ravel()]) - centre) + centre
    return _bilinear(at[0], at[1], height, width)


def crop_table(source, output, box) -> Table:
    """Bilinear sampling of the box ``(top, left, height, width)`` of a ``source = (H', W')`` image
    onto an ``output = (H, W)`` grid (pixel centres to pixel centres).

    Output pixel ``(i, j)`` reads the source at ``top + (i + 1/2) height / H - 1/2`` (and
    likewise in x). A box of the output's size at integer ``(top, left)`` reads whole pixels
    (an exact crop); a box inside the source and no smaller than the output reads inside it
    only (every output pixel a convex combination of source pixels).
    """
    (sh, sw), (oh, ow) = source, output
    top, left, bh, bw = (float(v) for v in box)
    ys = top + (np.arange(oh) + 0.5) * (bh / oh) - 0.5
    xs = left + (np.arange(ow) + 0.5) * (bw / ow) - 0.5
    return _bilinear(np.tile(xs, oh), np.repeat(ys, ow), sh, sw)


def _bilinear(at_x, at_y, height, width) -> Table:
    """The table reading an ``(H, W)`` image at the points ``(at_x, at_y)`` (0 outside)."""
    at = np.stack([at_x, at_y])
    at = np.where(np.abs(at - np.round(at)) < _SNAP, np.round(at), at)
    x0, y0 = np.floor(at[0]), np.floor(at[1])
    fx, fy = at[0] - x0, at[1] - y0
    index, weight = [], []
    for dy, dx, w in ((0, 0, (1 - fy) * (1 - fx)), (0, 1, (1 - fy) * fx),
                      (1, 0, fy * (1 - fx)), (1, 1, fy * fx)):
        yy, xx = y0 + dy, x0 + dx
        inside = (yy >= 0) & (yy < height) & (xx >= 0) & (xx < width)
        index.append(np.where(inside, yy * width + xx, 0).astype(np.int64))
        weight.append(np.where(inside, w, 0.0))
    return Table(np.stack(index, axis=1), np.stack(weight, axis=1), height * width)


def frame_table(sources: int, start: int, frames: int) -> Table:
    """Frames ``start .. start + frames - 1`` of ``sources`` frames (an exact crop in time)."""
    index = np.arange(start, start + frames, dtype=np.int64)[:, None]
    if start < 0 or start + frames > sources:
        raise ValueError(f"frames {start}..{start + frames - 1} are outside 0..{sources - 1}")
    return Table(index, np.ones((frames, 1)), sources)


def retime_table(frames: int, speed: float, shift: float) -> Table:
    """Linear interpolation in time: output frame ``t`` reads ``speed (t - c) + c + shift``.

    ``c`` is the middle frame. Reads before the first or after the last frame
    take that frame (the clip holds still at its ends), so a shift crops the
    clip at one end and pads it with its end frame at the other.
    """
    at = speed * (np.arange(frames) - (frames - 1) / 2) + (frames - 1) / 2 + shift
    at = np.clip(at, 0, frames - 1)
    at = np.where(np.abs(at - np.round(at)) < _SNAP, np.round(at), at)
    t0 = np.minimum(np.floor(at), max(frames - 2, 0))
    f = at - t0
    index = np.stack([t0, np.minimum(t0 + 1, frames - 1)], axis=1).astype(np.int64)
    return Table(index, np.stack([1 - f, f], axis=1), frames)


def gather(x, table: Table, axis: int, xp):
    """Apply ``table`` along ``axis`` of ``x`` (whose length there is ``table.sources``)."""
    device = array_device(x)
    index = xp.asarray(table.index.ravel(), device=device)
    outputs, k = table.index.shape
    taken = xp.take(x, index, axis=axis)
    shape = list(x.shape)
    shape[axis:axis + 1] = [outputs, k]
    taken = xp.reshape(taken, tuple(shape))
    wshape = [1] * len(shape)
    wshape[axis], wshape[axis + 1] = outputs, k
    weight = from_numpy(table.weight.reshape(wshape), xp, dtype=x.dtype, device=device)
    return xp.sum(taken * weight, axis=axis + 1)


# -- the numbers a warp is made from, on the host, once per run ----------------------------


#: columns of a warp's numbers per visualization (:func:`warp_numbers`)
COLUMNS = ("start", "speed", "shift", "top", "left", "box_h", "box_w",
           "m00", "m01", "m10", "m11", "i00", "i01", "i10", "i11", "v00", "v01", "v10", "v11")


def warp_numbers(settings, draws, shape, canvas,
                 in_time: bool = True) -> np.ndarray:
    """A warp's numbers per visualization (``settings`` a :class:`~stviz_core.transforms.Transforms`,
    ``draws`` its :class:`~stviz_core.transforms.Draws` or None), ``(..., N, len(COLUMNS))`` for draws ``(..., N)``
    (every step of a run at once), or ``(1, len(COLUMNS))`` for the centre crop (``draws=None``).

    The crop's first canvas frame, the speed and frame shift, the crop's box ``(top, left,
    height, width)`` in canvas pixels, the plane's matrix ``M = s R(theta)`` and its
    inverse (rows), and the map of a flow vector ``speed M diag(W / box_w, H / box_h)``,
    each stage's part the identity where it is off.
    """
    t, h, w, _ = shape
    ct, ch, cw = canvas[:3]
    lead = (1,) if draws is None else np.shape(draws.scale)
    full = lambda v: np.broadcast_to(np.asarray(v, dtype=np.float64), lead)  # noqa: E731
    random = (tuple(canvas) != tuple(shape) and settings.crop is not None and draws is not None
              and draws.phase is not None)
    if random:
        check_crop(settings.crop, shape, canvas)
        bh, bw = np.maximum(draws.crop_size * ch, h), np.maximum(draws.crop_size * cw, w)
        top, left = draws.crop_y * (ch - bh), draws.crop_x * (cw - bw)
        phase = draws.phase if in_time else np.full(lead, -1.0)
        start = np.vectorize(lambda u, part: crop_start(t, ct, float(u), int(part)),
                             otypes=[np.float64])(phase, draws.part)
    else:
        bh, bw, top, left, start = h, w, (ch - h) // 2, (cw - w) // 2, (ct - t) // 2
    timed = settings.temporal and t > 1 and draws is not None
    speed = full(draws.speed if timed else 1.0)
    shift = full(draws.shift if timed else 0.0)
    spatial = settings.spatial and draws is not None
    angle = np.deg2rad(full(draws.angle if spatial else 0.0))
    scale = full(draws.scale if spatial else 1.0)
    cos, sin = np.cos(angle), np.sin(angle)
    m = np.stack([scale * cos, -scale * sin, scale * sin, scale * cos], axis=-1)
    inverse = np.stack([cos, sin, -sin, cos], axis=-1) / scale[..., None]
    sx, sy = full(w / np.asarray(bw, dtype=np.float64)), full(h / np.asarray(bh, dtype=np.float64))
    vector = speed[..., None] * m * np.stack([sx, sy, sx, sy], axis=-1)
    columns = [full(start), speed, shift, full(top), full(left), full(bh), full(bw)]
    return np.concatenate([np.stack(columns, axis=-1), m, inverse, vector], axis=-1)
