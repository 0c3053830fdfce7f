"""The regularizers of the paper, eq. 2 and 3, with closed-form gradients.

Every function works on the canonical layout ``(N, T, H, W, C)`` of any
array-API namespace and reduces over everything but the batch axis, so each of
the N visualizations gets its own value. The functions validate their input;
the ascent loop calls the ``*_unchecked`` versions, which trust their
arguments (no shape, finiteness or range checks, so no device sync), and the
``*_value_grad_unchecked`` ones that give a value and its gradient in one pass.
"""

from __future__ import annotations

import math

import numpy as np

from ._checks import check_canonical, check_finite, non_negative, positive
from ._xp import array_device as _device, namespace, per_item_sum

__all__ = [
    "norm_bound",
    "norm_bound_grad",
    "project_to_bound",
    "total_variation",
    "total_variation_grad",
    "norm_bound_unchecked",
    "norm_bound_value_grad_unchecked",
    "project_to_bound_unchecked",
    "total_variation_unchecked",
    "total_variation_value_grad_unchecked",
    "penalties_value_grad_unchecked",
    "anchor_value_grad",
    "channel_dot",
    "scale_pixels",
    "ANCHOR_TERM",
]

#: the anchor term as the config records it
ANCHOR_TERM = "weight * sum over pixels of |x - x0|^2 / (T H W B^2), per input"

_T, _H, _W = 1, 2, 3


def _checked(x, xp):
    xp = namespace(x, xp=xp)
    check_canonical(x, xp)
    check_finite(x, xp)
    return xp


def norm_bound(x, /, *, alpha, xp=None):
    r"""Local energy :math:`N_B(x) = \sum_{t,i,j} (\sum_d x_{tijd}^2)^{\alpha/2}`.

    Parameters
    ----------
    x : array
        Inputs in the canonical layout ``(N, T, H, W, C)``.
    alpha : float
        Exponent of the per-pixel norm, ``alpha > 0`` (the paper uses 3).
    xp : namespace, optional
        Array-API namespace; inferred from ``x`` when omitted.

    Returns
    -------
    array
        Shape ``(N,)``: one value per visualization.
    """
    xp = _checked(x, xp)
    return norm_bound_unchecked(x, positive(alpha, "alpha"), xp)


def norm_bound_grad(x, /, *, alpha, xp=None):
    r"""Exact gradient of :func:`norm_bound`: :math:`\alpha\,|x_{tij}|^{\alpha-2} x_{tijd}`.

    A pixel whose vector is zero gets gradient zero, the gradient's limit
    there for ``alpha > 1`` and the smallest subgradient for ``alpha <= 1``.

    Returns
    -------
    array
        Same shape as ``x``.
    """
    xp = _checked(x, xp)
    return norm_bound_value_grad_unchecked(x, positive(alpha, "alpha"), xp)[1]


def project_to_bound(x, /, *, bound, xp=None):
    """Hard bound of eq. 2: scale every pixel vector with norm above ``bound`` back to it.

    Pixels whose channel vector has norm ``<= bound`` are returned unchanged;
    the others keep their direction and get norm ``bound``.

    Returns
    -------
    array
        Same shape as ``x``.
    """
    xp = _checked(x, xp)
    return project_to_bound_unchecked(x, positive(bound, "bound"), xp)


def total_variation(x, /, *, kappa, gamma, xp=None):
    r"""Spatiotemporal variation of eq. 3.

    :math:`R_{TV}(x) = \sum \kappa((\nabla_x x)^2 + (\nabla_y x)^2) + \gamma(\nabla_t x)^2`
    with forward differences taken inside the volume: an axis of length L has
    L - 1 differences; nothing wraps around and nothing is padded, so an axis
    of length 1 contributes nothing.

    Parameters
    ----------
    x : array
        Inputs in the canonical layout ``(N, T, H, W, C)``.
    kappa : float
        Weight of spatial variation, ``>= 0``.
    gamma : float
        Weight of temporal variation (slowness), ``>= 0``.
    xp : namespace, optional

    Returns
    -------
    array
        Shape ``(N,)``.
    """
    xp = _checked(x, xp)
    return total_variation_unchecked(
        x, non_negative(kappa, "kappa"), non_negative(gamma, "gamma"), xp
    )


def total_variation_grad(x, /, *, kappa, gamma, xp=None):
    """Exact gradient of :func:`total_variation`, same shape as ``x``."""
    xp = _checked(x, xp)
    return total_variation_value_grad_unchecked(
        x, non_negative(kappa, "kappa"), non_negative(gamma, "gamma"), xp
    )[1]


# -- unchecked kernels used by the ascent loop ------------------------------


def norm_bound_unchecked(x, alpha, xp):
    """:func:`norm_bound` without checks: ``x`` canonical and ``alpha > 0`` are trusted.

    Returns
    -------
    array
        Shape ``(N,)``.
    """
    return per_item_sum(channel_dot(x, x, xp) ** (alpha / 2), xp)


def norm_bound_value_grad_unchecked(x, alpha, xp):
    """:func:`norm_bound` and :func:`norm_bound_grad` from one pass over ``x``, without checks.

    Returns
    -------
    value : array
        Shape ``(N,)``.
    grad : array
        Same shape as ``x``.
    """
    return _norm_value_grad(x, alpha, 1.0, xp)


def _norm_value_grad(x, alpha, factor, xp):
    """``N_B(x)`` and ``factor`` times its gradient, each pixel's ``|x|^(alpha-2)`` computed once
    for both (two full-size arrays made: the gradient and ``x``'s copy in it)."""
    sq = channel_dot(x, x, xp)  # a fresh array: this function's to overwrite
    power = _norm_power(sq, alpha, xp)  # |x|^(alpha-2), 0 on a zero pixel
    grad = scale_pixels(x, power, xp, factor=factor * alpha)
    sq *= power
    return per_item_sum(sq, xp), grad


def _norm_power(sq, alpha, xp):
    """``|x|^(alpha-2)`` of each pixel from its squared norm, 0 where the pixel is zero."""
    exponent = alpha / 2 - 1
    if exponent > 0:  # 0 ** exponent is 0: a zero pixel needs no case of its own
        return xp.sqrt(sq) if exponent == 0.5 else sq**exponent
    nonzero = sq > 0
    safe = xp.where(nonzero, sq, xp.ones_like(sq))
    return xp.where(nonzero, safe**exponent, xp.zeros_like(sq))


def project_to_bound_unchecked(x, bound, xp):
    """:func:`project_to_bound` without checks: ``x`` canonical and ``bound > 0`` are trusted.

    Returns
    -------
    array
        Same shape as ``x``.
    """
    # 1 / (max(|x|, B) / B): exactly 1 inside (PyTorch's B / array is B * (1 / array))
    over = xp.clip(xp.sqrt(channel_dot(x, x, xp)), min=bound)
    over /= bound
    return scale_pixels(x, 1 / over, xp)


def total_variation_unchecked(x, kappa, gamma, xp):
    """:func:`total_variation` without checks: ``x`` canonical, ``kappa, gamma >= 0`` trusted.

    Returns
    -------
    array
        Shape ``(N,)``.
    """
    total = xp.zeros((x.shape[0],), dtype=x.dtype, device=_device(x))
    for axis, weight in _axes(kappa, gamma):
        if x.shape[axis] > 1:
            d = _difference(x, axis)
            total = total + weight * per_item_sum(d * d, xp)
    return total


def total_variation_value_grad_unchecked(x, kappa, gamma, xp):
    """:func:`total_variation` and its gradient, each difference computed once, without checks.

    ``d/dx_k`` of ``sum_k (x_{k+1} - x_k)^2`` is ``2 (d_{k-1} - d_k)``, with ``d = 0``
    outside the volume.

    Returns
    -------
    value : array
        Shape ``(N,)``.
    grad : array
        Same shape as ``x``.
    """
    grad = xp.zeros_like(x)
    return _add_tv_grad(x, kappa, gamma, 1.0, grad, xp), grad


def _add_tv_grad(x, kappa, gamma, factor, grad, xp):
    """``R_TV(x)`` per visualization; adds ``factor`` times its gradient to ``grad`` in place
    (one full-size difference per axis, scaled in place and added to ``grad``'s two slices)."""
    if all(isinstance(a, np.ndarray) and a.flags.c_contiguous for a in (x, grad)):
        return _add_tv_grad_flat(x, _axes(kappa, gamma), factor, grad)
    total = xp.zeros((x.shape[0],), dtype=x.dtype, device=_device(x))
    for axis, weight in _axes(kappa, gamma):
        if x.shape[axis] > 1:
            d = _difference(x, axis)
            total = total + weight * per_item_sum(d * d, xp)
            d *= 2 * weight * factor
            grad[_slice(axis, slice(1, None))] += d
            grad[_slice(axis, slice(None, -1))] -= d
    return total


def _add_tv_grad_flat(x, axes, factor, grad):
    """:func:`_add_tv_grad` on C-contiguous numpy arrays, every operation on whole flat arrays.

    An axis of stride ``s`` (elements) has the differences ``x[i + s] - x[i]`` of the flat
    array, the ones at the axis' last index (which reach into the next row, frame or item)
    set to 0: then ``sum d^2`` is the axis' term, ``d[i - s] - d[i]`` its gradient at ``i`` (numpy
    runs a contiguous array ~3x faster than the W axis' strided slices).
    """
    xf, gf, shape = x.reshape(-1), grad.reshape(-1), x.shape
    d, square = np.empty_like(xf), np.empty_like(xf)  # reused by every axis
    total = np.zeros((shape[0],), dtype=x.dtype)
    for axis, weight in axes:
        if shape[axis] > 1:
            stride = math.prod(shape[axis + 1:])
            np.subtract(xf[stride:], xf[:-stride], out=d[:-stride])
            d.reshape(shape)[_slice(axis, slice(-1, None))] = 0
            total += weight * per_item_sum(np.multiply(d, d, out=square).reshape(shape), np)
            d *= 2 * weight * factor
            gf[stride:] += d[:-stride]
            gf -= d
    return total


def penalties_value_grad_unchecked(x, lam_norm, lam_tv, alpha, kappa, gamma, xp):
    """The weighted penalties of eq. 2 and 3 and their summed gradient, in one gradient array.

    A term whose weight is 0 is skipped (its value is 0, its gradient nothing). Unchecked.

    Returns
    -------
    values : tuple of array
        ``(lam_norm * N_B(x), lam_tv * R_TV(x))``, each ``(N,)``.
    grad : array
        ``lam_norm * grad N_B + lam_tv * grad R_TV``, same shape as ``x`` (a fresh array).
    """
    zero = xp.zeros((x.shape[0],), dtype=x.dtype, device=_device(x))
    norm, tv, grad = zero, zero, None
    if lam_norm != 0:
        norm, grad = _norm_value_grad(x, alpha, lam_norm, xp)
        norm = lam_norm * norm
    if lam_tv != 0:
        grad = xp.zeros_like(x) if grad is None else grad
        tv = lam_tv * _add_tv_grad(x, kappa, gamma, lam_tv, grad, xp)
    return (norm, tv), (xp.zeros_like(x) if grad is None else grad)


#: numpy reduces a last axis this short ~10x slower than it adds the channels' products
_UNROLLED = 4


def channel_dot(a, b, xp):
    """``sum_c a[..., c] b[..., c]``: each pixel's inner product over the last (channel) axis.

    With 2-4 channels ``a * b`` is made whole (one contiguous product: PyTorch's CPU products
    of strided channels cost ~2x) and its channels added one by one (numpy 2's reduction over a
    last axis of 2-3 entries costs ~10x that, PyTorch's on the CPU ~3x; the same sum in the same
    order), in place on numpy arrays; with more, ``xp.sum``. The result is a fresh array.
    """
    channels = a.shape[-1]
    if channels > _UNROLLED:
        return xp.sum(a * b, axis=-1)
    if channels == 1:
        return a[..., 0] * b[..., 0]
    products = a * b
    total = products[..., 0] + products[..., 1]
    for c in range(2, channels):
        if isinstance(total, np.ndarray):
            total += products[..., c]
        else:
            total = total + products[..., c]
    return total


def scale_pixels(x, per_pixel, xp, *, factor=None):
    """``x * per_pixel[..., None]`` (times ``factor``): each pixel's vector times its number.

    With at most 4 channels, ``x`` (times ``factor``) is copied and each channel multiplied in
    place (PyTorch's CPU kernels broadcast a per-pixel factor over a last axis of 3 several
    times slower; numpy's ~2x); with more, a broadcast product.
    """
    if x.shape[-1] > _UNROLLED:
        out = x * per_pixel[..., None]
        return out if factor is None else out * factor
    out = xp.asarray(x, copy=True) if factor is None else x * factor
    for c in range(x.shape[-1]):
        out[..., c] *= per_pixel
    return out


def _slice(axis, sl):
    index = [slice(None)] * 5
    index[axis] = sl
    return tuple(index)


def _difference(x, axis):
    return x[_slice(axis, slice(1, None))] - x[_slice(axis, slice(None, -1))]


def _axes(kappa, gamma):
    """(axis, weight) pairs of the terms that eq. 3 switches on."""
    pairs = []
    if kappa != 0:
        pairs += [(_W, kappa), (_H, kappa)]
    if gamma != 0:
        pairs.append((_T, gamma))
    return pairs


def anchor_value_grad(x, x0, bound, xp, *, weight=1.0, grad=True):
    r"""The pixel-distance term that keeps ``x`` near a clip ``x0`` (feature accentuation).

    :math:`A(x) = w \sum_{t,i,j} |x_{tij} - x0_{tij}|^2 / (T H W B^2)` per
    visualization: the mean squared distance of the pixel vectors in units of
    the hard bound (1 when every pixel is a bound away), so a weight means the
    same for every input size and role. Unchecked, as the loop calls it.

    Parameters
    ----------
    x, x0 : array
        ``(N, T, H, W, C)`` and ``(N or 1, T, H, W, C)``.
    bound : float
        The input's hard bound ``B``.
    xp : namespace
    weight : float
    grad : bool
        Also return the gradient ``2 w (x - x0) / (T H W B^2)``.

    Returns
    -------
    value : array
        ``(N,)``.
    gradient : array or None
    """
    _, t, h, w, _ = x.shape
    scale = weight / (t * h * w * bound * bound)
    d = x - x0
    value = scale * per_item_sum(d * d, xp)
    if not grad:
        return value, None
    d *= 2.0 * scale  # d is this function's: the gradient made in place
    return value, d
