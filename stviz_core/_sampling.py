"""The transforms' resampling on the device: positions from a few numbers per visualization.

Array-API code on the inputs' device, batched over the visualizations
(:mod:`stviz_core.resample` describes the maps and re-exports these names; its host
tables are the reference the tests compare against). Separable reads (a crop's box,
time) are small dense matrices of hat weights (:func:`hat_matrix`, applied with
:func:`along`); a warp of the plane (:func:`plane_points`) reads four neighbours with one
``take`` (:func:`sample_plane`), and its adjoint gathers, for every source pixel, the
outputs within the warp's reach that read it (:func:`sample_plane_adjoint`).

Without a fused read a warp runs in pixel rows ``(N, H, W, C * T)`` (:func:`to_rows`,
:mod:`stviz_core._warp_rows`): time enters and leaves them inside its matrix product
(:func:`time_to_rows`, :func:`time_from_rows`; numpy: a multiply-add per hat weight and the
transpose, no BLAS), a crop reads the hat matrices' two nonzero
entries per output (:func:`taps`; its adjoint, :func:`taps_adjoint`, three candidates per
source), the plane gathers whole rows (:func:`plane_rows`, :func:`plane_adjoint_rows`).

Costs (issue 27: the Keras backend runs this in single-threaded numpy): the neighbour
tables are built with the neighbour axes leading, so every element-wise operation runs
along a pixel row (numpy broadcasts a trailing axis of 3 or 9 several times slower), and
in numpy the neighbours are summed by one batched ``(1, K) @ (K, D)`` product.
"""

from __future__ import annotations

import math

import numpy as np
from array_api_compat import is_numpy_namespace

from ._xp import array_device

_SNAP = 1e-9  # sample positions this close to a pixel centre are put on it (exact 90 degree turns)


def snap(at, xp):
    """Positions within ``1e-9`` of a sample put on it (exact 90 degree turns, whole-pixel crops).

    In a dtype whose spacing near 1/2 exceeds ``1e-9`` (float32, float16) only ``|at| < 1e-9``
    can be that close to a sample without being on it, so that is all it checks there: the
    same result with three element-wise operations instead of five."""
    if xp.finfo(at.dtype).eps / 2 > _SNAP:
        if is_numpy_namespace(xp):  # the same numbers (-0.0 for a tiny negative); see _kept
            return at * (xp.abs(at) >= _SNAP)
        return xp.where(xp.abs(at) < _SNAP, 0.0, at)
    nearest = xp.round(at)
    return xp.where(xp.abs(at - nearest) < _SNAP, nearest, at)


def _kept(mask, values, zero, xp):
    """``values`` where ``mask``, else ``zero`` (0): in numpy ``values * mask`` (the same finite
    numbers, ``-0.0`` for a negative value masked out; numpy's ``where`` costs 2-5x a product
    over these tables' masks), elsewhere ``xp.where``."""
    if is_numpy_namespace(xp):
        return values * mask
    return xp.where(mask, values, zero)


def hat_matrix(positions, sources: int, xp):
    """``(..., P, S)`` linear-interpolation weights of reading ``sources`` samples at ``positions``
    ``(..., P)`` (inside ``[0, S - 1]``): ``max(0, 1 - |position - k|)``."""
    k = xp.arange(sources, dtype=positions.dtype, device=array_device(positions))
    return xp.clip(1.0 - xp.abs(positions[..., None] - k), min=0.0)


def along(x, matrix, axis: int, xp, *, adjoint=False):
    """``matrix`` ``(N, P, S)`` (or its transpose) applied to axis ``axis`` of ``x`` ``(N, ...)``."""
    if adjoint:
        matrix = xp.permute_dims(matrix, (0, 2, 1))
    order = (0, axis, *[a for a in range(1, x.ndim) if a != axis])
    moved = xp.permute_dims(x, order) if axis != 1 else x
    shape = moved.shape
    flat = xp.reshape(moved, (shape[0], shape[1], -1))
    out = xp.reshape(xp.matmul(matrix, flat), (shape[0], matrix.shape[1], *shape[2:]))
    if axis == 1:
        return out
    back = [0] * x.ndim
    for i, a in enumerate(order):
        back[a] = i
    return xp.permute_dims(out, tuple(back))


def time_to_rows(x, matrix, xp):
    """``matrix`` ``(N, T, T')`` applied to the frames of ``x`` ``(N, T', H, W, C)``, given as
    pixel rows ``(N, H, W, C * T)`` (:func:`to_rows`): the transpose is the product's, no copy.

    In numpy without BLAS (:func:`_time_numpy`)."""
    if is_numpy_namespace(xp):
        return to_rows(_time_numpy(np.reshape(x, (x.shape[0], x.shape[1], -1)), matrix,
                                   adjoint=False).reshape((x.shape[0], -1, *x.shape[2:])), np)
    n, ts, h, w, c = x.shape
    t = matrix.shape[1]
    flat = xp.permute_dims(xp.reshape(x, (n, ts, h * w * c)), (0, 2, 1))
    return xp.reshape(xp.matmul(flat, xp.permute_dims(matrix, (0, 2, 1))), (n, h, w, c * t))


def time_from_rows(rows, matrix, xp):
    """The adjoint of :func:`time_to_rows`: ``matrix`` transposed applied to pixel rows ``(N, H, W,
    C * T)``, given as ``(N, T', H, W, C)``.

    In numpy without BLAS (:func:`_time_numpy`); elsewhere one matrix product."""
    if is_numpy_namespace(xp):
        n, h, w, d = rows.shape
        frames = np.reshape(from_rows(rows, matrix.shape[1], np), (n, matrix.shape[1], -1))
        return np.reshape(_time_numpy(frames, matrix, adjoint=True), (n, -1, h, w,
                                                                      d // matrix.shape[1]))
    n, h, w, d = rows.shape
    t, ts = matrix.shape[1:]
    flat = xp.permute_dims(xp.reshape(rows, (n, h * w * (d // t), t)), (0, 2, 1))
    return xp.reshape(xp.matmul(xp.permute_dims(matrix, (0, 2, 1)), flat),
                      (n, ts, h, w, d // t))


def _time_numpy(frames, matrix, *, adjoint: bool):
    """``matrix`` ``(N, T, T')`` (or its transpose) applied to ``frames`` ``(N, T', P)`` (``(N, T,
    P)``) in numpy: one multiply-add of a whole frame per nonzero entry (a retiming's hat matrix
    has at most two per output frame), no BLAS.

    Under the Keras backend a numpy matrix product of this size between TensorFlow's calls was
    slow twice over (issue 27): about one in ten stalled 4-16 ms, and TensorFlow's next step ran
    a third slower, as numpy's OpenBLAS thread spun beside it (where its thread count was not
    the one limited: OpenCV's OpenBLAS, loaded too, was); element-wise work does neither."""
    n, t, ts = matrix.shape
    out = np.empty((n, ts if adjoint else t, frames.shape[2]), dtype=frames.dtype)
    scratch = np.empty(frames.shape[2], dtype=frames.dtype)
    written = np.zeros(out.shape[:2], dtype=bool)
    for item, row, column in zip(*np.nonzero(matrix)):
        target, source = (column, row) if adjoint else (row, column)
        if written[item, target]:
            out[item, target] += np.multiply(frames[item, source], matrix[item, row, column],
                                             out=scratch)
        else:  # the first term is written, not added to zeros
            np.multiply(frames[item, source], matrix[item, row, column], out=out[item, target])
            written[item, target] = True
    out[~written] = 0.0
    return out


def _spread(weight, a: int, d: int, xp):
    """Weights ``(N, P)`` for rows ``(N, A, P, D)``: ``(N, 1, P, 1)``, or ``(N, 1, P, D)`` written
    out where the rows are short (numpy broadcasts over a short last axis several times slower)."""
    n, p = weight.shape
    weight = xp.reshape(weight, (n, 1, p, 1))
    return weight if a == 1 else weight * xp.ones((1, 1, 1, d), dtype=weight.dtype,
                                                  device=array_device(weight))


def _taken(x, index, xp):
    """``x[n, a, index[n, p]]`` for ``x`` ``(N, A, S, D)`` and integer ``index`` ``(N, P)``."""
    n, a, s, d = x.shape
    device = array_device(index)
    item = xp.reshape(xp.arange(n, dtype=xp.int64, device=device) * (a * s), (n, 1, 1))
    block = xp.reshape(xp.arange(a, dtype=xp.int64, device=device) * s, (1, a, 1))
    flat = xp.reshape(item + block + xp.reshape(index, (n, 1, -1)), (-1,))
    return xp.reshape(xp.take(xp.reshape(x, (n * a * s, d)), flat, axis=0), (n, a, -1, d))


def taps(x, at, xp):
    """``x`` ``(N, A, S, D)`` read linearly at positions ``at`` ``(N, P)`` along its third axis:
    ``(N, A, P, D)``, each output from the two samples around it with :func:`hat_matrix`'s two
    nonzero weights (the product with the hat matrix, without its zeros)."""
    s = x.shape[2]
    if s == 1:
        return along(x, hat_matrix(at, 1, xp), 2, xp)
    low = xp.clip(xp.floor(at), min=0.0, max=float(s - 2))
    out = None
    for i in (low, low + 1):
        term = _taken(x, xp.astype(i, xp.int64), xp) * _spread(
            xp.clip(1.0 - xp.abs(at - i), min=0.0), x.shape[1], x.shape[3], xp)
        out = term if out is None else out + term
    return out


def taps_adjoint(g, at, step, sources: int, xp):
    """The adjoint of :func:`taps` at positions ``at(i)`` of the outputs ``i`` (``at`` a function of
    a float array of output indices ``(..., N, S)``: the same arithmetic as the forward read's),
    which grow by ``step`` ``(N, 1)``, at least 1 (a crop's box is no smaller than the clip):
    ``g`` ``(N, A, P, D)`` -> ``(N, A, sources, D)``. Each sample gathers the three outputs
    nearest to reading it, weighted by the forward's hat weights."""
    n, a, p, d = g.shape
    if sources == 1:
        return along(g, hat_matrix(at(xp.reshape(xp.arange(p, dtype=g.dtype, device=array_device(g)),
                                                 (1, p))), 1, xp), 2, xp, adjoint=True)
    q = xp.reshape(xp.arange(sources, dtype=g.dtype, device=array_device(g)), (1, sources))
    nearest = xp.round((q - at(xp.zeros((1, 1), dtype=g.dtype, device=array_device(g)))) / step)
    out = None
    for k in (-1.0, 0.0, 1.0):
        i = xp.clip(nearest + k, min=0.0, max=float(p - 1))
        weight = _kept(nearest + k == i, xp.clip(1.0 - xp.abs(at(i) - q), min=0.0), 0.0, xp)
        term = _taken(g, xp.astype(i, xp.int64), xp) * _spread(weight, a, d, xp)
        out = term if out is None else out + term
    return out


def plane_points(inverse, height: int, width: int, xp):
    """``(ax, ay)``, each ``(N, H, W)``: where output pixel ``(i, j)`` reads the image it warps,
    ``inverse (p - c) + c`` for the ``(N, 4)`` rows ``(a, b, c, d)`` of ``inverse``
    (``[[a, b], [c, d]]`` on ``(x, y)``, ``c`` the image centre), snapped (:func:`snap`)."""
    dtype, device = inverse.dtype, array_device(inverse)
    px = xp.reshape(xp.arange(width, dtype=dtype, device=device) - (width - 1) / 2, (1, 1, width))
    py = xp.reshape(xp.arange(height, dtype=dtype, device=device) - (height - 1) / 2,
                    (1, height, 1))
    a, b, c, d = (xp.reshape(inverse[:, i], (-1, 1, 1)) for i in range(4))
    return (snap(a * px + b * py + (width - 1) / 2, xp),
            snap(c * px + d * py + (height - 1) / 2, xp))


def to_rows(x, xp):
    """``x`` ``(N, T, H, W, C)`` as pixel rows ``(N, H, W, C * T)`` (channel, then frame): one
    row per pixel of each item, the layout the plane's reads gather (a ``(T, H W C)`` transpose)."""
    n, t, h, w, c = x.shape
    return xp.reshape(xp.permute_dims(xp.reshape(x, (n, t, h * w * c)), (0, 2, 1)), (n, h, w, c * t))


def from_rows(rows, t: int, xp):
    """Pixel rows ``(N, H, W, C * T)`` (:func:`to_rows`) as ``(N, T, H, W, C)``."""
    n, h, w, d = rows.shape
    return xp.reshape(xp.permute_dims(xp.reshape(rows, (n, h * w * (d // t), t)), (0, 2, 1)),
                      (n, t, h, w, d // t))


#: most elements of the neighbours one :func:`_read` takes at once (its temporary, 64 MiB in float32)
_READ_ELEMENTS = 1 << 24


def _read(rows, index, weight, per_item: int, xp):
    """``sum_k weight[..., k] rows[n * per_item + index[..., k]]`` for index/weight ``(N, P, K)``.

    In numpy the neighbours of every output row in one ``take`` and their weighted sum as a
    batch of ``(1, K) @ (K, D)`` products (numpy multiplies a ``(P, 1)`` weight into ``(P, D)``
    rows of a few dozen values several times slower than a plain product), in slices of at
    most ``_READ_ELEMENTS`` taken values; elsewhere (torch: twice as fast) one ``take`` and one
    weighted add per neighbour."""
    n, p, k = index.shape
    width = rows.shape[1]
    first = xp.reshape(xp.arange(n, dtype=index.dtype, device=array_device(index)) * per_item,
                       (n, 1, 1))
    index = index + first
    if not is_numpy_namespace(xp):
        out = None
        for j in range(k):
            term = xp.reshape(xp.take(rows, xp.reshape(index[:, :, j], (n * p,)), axis=0),
                              (n, p, width)) * weight[:, :, j:j + 1]
            out = term if out is None else out + term
        return out
    flat = xp.reshape(index, (n * p * k,))
    weight = xp.reshape(weight, (n * p, 1, k))
    size = max(_READ_ELEMENTS // (k * width), 1)
    parts = []
    for start in range(0, n * p, size):
        stop = min(start + size, n * p)
        taken = xp.reshape(xp.take(rows, flat[start * k:stop * k], axis=0), (stop - start, k, width))
        parts.append(xp.reshape(xp.matmul(weight[start:stop, ...], taken), (stop - start, width)))
    return xp.reshape(parts[0] if len(parts) == 1 else xp.concat(parts, axis=0), (n, p, width))


def _neighbours_last(table, n: int, p: int, xp):
    """A table ``(K..., N, ...)`` with its neighbour axes leading as ``(N, P, K)`` for :func:`_read`."""
    k = math.prod(table.shape) // (n * p)
    return xp.reshape(xp.permute_dims(xp.reshape(table, (k, n * p)), (1, 0)), (n, p, k))


def sample_plane(x, ax, ay, xp):
    """``x`` ``(N, T, H', W', C)`` read bilinearly at ``(ax, ay)`` ``(N, H, W)`` (0 outside):
    ``(N, T, H, W, C)``, four neighbours per output pixel in one ``take``."""
    return from_rows(plane_rows(to_rows(x, xp), ax, ay, xp), x.shape[1], xp)


def plane_rows(rows, ax, ay, xp):
    """:func:`sample_plane` on pixel rows (:func:`to_rows`): ``(N, H', W', D)`` -> ``(N, H, W, D)``."""
    n, hs, ws, d = rows.shape
    h, w = ax.shape[1:]
    x0, y0 = xp.floor(ax), xp.floor(ay)
    fx, fy = ax - x0, ay - y0
    # neighbours (dy, dx) as leading axes (2, 2, N, H, W): (0, 0), (0, 1), (1, 0), (1, 1)
    wx, wy = xp.stack([1 - fx, fx]), xp.reshape(xp.stack([1 - fy, fy]), (2, 1, n, h, w))
    ix = xp.stack([(x0 >= 0) & (x0 < ws), (x0 >= -1) & (x0 < ws - 1)])
    iy = xp.stack([(y0 >= 0) & (y0 < hs), (y0 >= -1) & (y0 < hs - 1)])
    inside = xp.reshape(iy, (2, 1, n, h, w)) & ix
    offset = xp.reshape(xp.asarray([0, 1, ws, ws + 1], dtype=xp.int64,
                                   device=array_device(ax)), (2, 2, 1, 1, 1))
    index = _kept(inside, xp.astype(y0 * ws + x0, xp.int64) + offset, 0, xp)
    weight = _kept(inside, wy * wx, 0.0, xp)
    out = _read(xp.reshape(rows, (n * hs * ws, d)), _neighbours_last(index, n, h * w, xp),
                _neighbours_last(weight, n, h * w, xp), hs * ws, xp)
    return xp.reshape(out, (n, h, w, d))


def reach(matrices) -> int:
    """How far (pixels, each axis) an output pixel reading near a source pixel can be from where
    the warp puts that pixel, for forward matrices ``(..., 2, 2)`` (:func:`sample_plane_adjoint`):
    the outputs reading ``q`` lie within ``|M|_inf`` of ``M (q - c) + c``, so within this many
    pixels of its rounding."""
    norm = float(np.max(np.abs(np.asarray(matrices)).sum(axis=-1), initial=1.0))
    return max(int(math.ceil(norm + 0.5 + 1e-6)) - 1, 1)


def sample_plane_adjoint(g, matrix, inverse, source, xp, *, within: int):
    """The adjoint of :func:`sample_plane` at the points of :func:`plane_points` (``inverse``), for
    ``g`` ``(N, T, H, W, C)``: ``(N, T, H, W, C)`` on the ``source = (H, W)`` image.

    Each source pixel ``q`` gathers the outputs ``p`` within ``within`` pixels of
    ``M (q - c) + c`` (``matrix`` the ``(N, 4)`` forward rows; :func:`reach` gives
    ``within``), weighted ``max(0, 1 - |a_x(p) - q_x|) max(0, 1 - |a_y(p) - q_y|)``:
    the forward read's own weights, at the same points.
    """
    return from_rows(plane_adjoint_rows(to_rows(g, xp), matrix, inverse, source, xp,
                                        within=within), g.shape[1], xp)


def plane_adjoint_rows(rows, matrix, inverse, source, xp, *, within: int):
    """:func:`sample_plane_adjoint` on pixel rows: ``(N, H, W, D)`` -> ``(N, H', W', D)``."""
    n, h, w, d = rows.shape
    hs, ws = source
    dtype, device = matrix.dtype, array_device(matrix)
    cx, cy = (w - 1) / 2, (h - 1) / 2
    # the candidates' offsets (y, x) as leading axes: (2r + 1, 2r + 1, N, H', W')
    qx = xp.reshape(xp.arange(ws, dtype=dtype, device=device), (1, 1, 1, 1, ws))
    qy = xp.reshape(xp.arange(hs, dtype=dtype, device=device), (1, 1, 1, hs, 1))
    m = [xp.reshape(matrix[:, i], (1, 1, -1, 1, 1)) for i in range(4)]
    inv = [xp.reshape(inverse[:, i], (1, 1, -1, 1, 1)) for i in range(4)]
    rx = xp.round(m[0] * (qx - cx) + m[1] * (qy - cy) + cx)  # the pixel the warp puts q on
    ry = xp.round(m[2] * (qx - cx) + m[3] * (qy - cy) + cy)
    steps = xp.arange(-within, within + 1, dtype=dtype, device=device)
    dx = rx - cx + xp.reshape(steps, (1, -1, 1, 1, 1))  # p_x - c_x (whole or half numbers: exact)
    dy = ry - cy + xp.reshape(steps, (-1, 1, 1, 1, 1))
    ax = snap(inv[0] * dx + inv[1] * dy + cx, xp)  # where the candidate p reads
    ay = snap(inv[2] * dx + inv[3] * dy + cy, xp)
    inside = (xp.abs(dy) <= cy) & (xp.abs(dx) <= cx)
    weight = _kept(inside, xp.clip(1.0 - xp.abs(ax - qx), min=0.0)
                   * xp.clip(1.0 - xp.abs(ay - qy), min=0.0), 0.0, xp)
    offset = xp.astype(xp.reshape(steps, (-1, 1, 1, 1, 1)) * w
                       + xp.reshape(steps, (1, -1, 1, 1, 1)), xp.int64)
    index = _kept(inside, xp.astype(ry * w + rx, xp.int64) + offset, 0, xp)
    out = _read(xp.reshape(rows, (n * h * w, d)), _neighbours_last(index, n, hs * ws, xp),
                _neighbours_last(weight, n, hs * ws, xp), h * w, xp)
    return xp.reshape(out, (n, hs, ws, d))
