r"""Contrast by construction: standardize a field's output, then squash it into the bound.

A parameterization's raw output ``r`` (pixels, or a spectrum's inverse FFT; per
visualization ``(T, H, W, C)``, canvas included) becomes the input

    u = contrast * B * (r - m) / s      (standardize=True; else u = r)
    x = B' tanh(|u| / B') u / |u|       (squash="radial", per pixel vector)
    x_c = b tanh(u_c / b)               (squash="channel", b = B' / sqrt(C))

with ``m`` the mean of ``r`` over ``(T, H, W)`` and the channels (appearance
only: a flow field keeps its mean, the global motion), ``s`` the root mean
square pixel norm of ``r - m`` (plus ``1e-6 B`` in quadrature, so a constant ``r``
is finite), and ``B' = B (1 - 2^-20)``.

How it relates to the bound and to eq. 2-3:

* **The hard bound holds by construction**: every pixel vector of ``x`` has
  norm ``< B'`` (``radial``: ``B' tanh``, the direction kept; ``channel``: each
  channel inside ``+-b``, the cube inscribed in the ball), whatever the
  parameters, so the projection of the paper's step 7 never acts (``B'`` keeps
  rounding from carrying a pixel past ``B``). Standardized without a squash,
  the map ends in that projection instead (its Jacobian in the VJP). Both squashes are the identity to
  first order near 0 and saturate at the bound, as Lucid's sigmoid does.
* **Contrast is fixed by construction** with ``standardize``: the RMS pixel norm
  of ``u`` is ``contrast * B`` whatever the optimization does (MaCo's z-score),
  so ``x``'s is about ``B tanh(contrast)``: 0.46 B at the default 0.5, about the
  RMS colour-vector norm of a real clip's mean-subtracted frames. The unit
  decides where contrast goes, not how much there is.
* **Eq. 2's norm term** ``N_B`` still acts on ``x``: it no longer keeps pixels
  inside ``B`` (the squash does), but with ``alpha = 3`` it penalizes large
  local energy, so among inputs of the fixed contrast it favours ones whose
  energy is spread rather than saturated. Eq. 3's TV term acts on ``x`` as before.

The vector-Jacobian product :func:`output_vjp` is exact (closed form; the
radial squash's ``f'(rho)/rho`` by its Taylor series below ``rho = 0.05``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from .._checks import real
from ..regularizers import channel_dot, project_to_bound_unchecked

__all__ = ["Output", "SQUASHES", "CONTRAST_DOMAIN", "check_output", "output", "output_vjp",
           "projection_vjp"]

SQUASHES = ("radial", "channel")
#: Valid ``contrast`` (the standardized RMS pixel norm, in units of the bound).
CONTRAST_DOMAIN = (0.0, 4.0)
_EDGE = 1.0 - 2.0**-20  # the squash's asymptote as a fraction of B
_EPS = 1e-6  # in units of B: the floor of the standardizing scale
_SERIES = 0.05  # below this |u| / B', the radial squash's derivative by its Taylor series


@dataclass(frozen=True)
class Output:
    """The output stage of a parameterization (module notes); inactive by default.

    Parameters
    ----------
    squash : {None, "radial", "channel"}
        Map into the bound smoothly (``True`` means ``"radial"``).
    standardize : bool
        Z-score the raw output per visualization and input before the squash.
    contrast : float
        RMS pixel norm of the standardized output in units of ``B``, in ``(0, 4]``.
    """

    squash: Optional[str] = None
    standardize: bool = False
    contrast: float = 0.5

    @property
    def active(self) -> bool:
        return self.squash is not None or self.standardize


def check_output(squash, standardize, contrast) -> Output:
    """:class:`Output` from the three options, or a one-line ``ValueError`` naming the domain."""
    if squash is True:
        squash = "radial"
    if squash is False:
        squash = None
    if squash is not None and squash not in SQUASHES:
        raise ValueError(f"squash must be None, True or one of {', '.join(map(repr, SQUASHES))} "
                         f"(smooth maps into the bound), got {squash!r}")
    if not isinstance(standardize, bool):
        raise TypeError(f"standardize must be True or False, got {standardize!r}")
    lo, hi = CONTRAST_DOMAIN
    try:
        value = real(contrast, "contrast")
    except (TypeError, ValueError):
        value = None
    if value is None or not lo < value <= hi:
        raise ValueError(f"contrast must be a number in ({lo:g}, {hi:g}] (the standardized RMS "
                         f"pixel norm in units of the bound), got {contrast!r}")
    contrast = value
    return Output(squash, standardize, contrast)


def output(r, settings: Output, *, bound, centre, xp):
    """The input ``x`` of the raw output ``r`` ``(N, T, H, W, C)`` (module notes).

    ``centre``: subtract the mean when standardizing (appearance; flow keeps its mean).
    Standardized without a squash, the output ends in the paper's projection (as maco's does).
    """
    u = _standardized(r, settings, bound, centre, xp)[0] if settings.standardize else r
    if settings.squash == "radial":
        return _radial(u, bound, xp)[0] * u
    if settings.squash == "channel":
        b = _EDGE * bound / r.shape[-1] ** 0.5
        return b * xp.tanh(u / b)
    return project_to_bound_unchecked(u, bound, xp) if settings.standardize else u


def output_vjp(r, g, settings: Output, *, bound, centre, xp):
    """The gradient w.r.t. ``r`` of ``<output(r), g>``."""
    if settings.standardize:
        u, d, scale = _standardized(r, settings, bound, centre, xp)
    else:
        u = r
    if settings.squash == "radial":
        f, q = _radial(u, bound, xp)
        edge = _EDGE * bound
        # the per-pixel factors multiplied first: one broadcast over the channels, not two
        g = f * g + ((q / (edge * edge)) * channel_dot(u, g, xp)[..., None]) * u
    elif settings.squash == "channel":
        b = _EDGE * bound / r.shape[-1] ** 0.5
        t = xp.tanh(u / b)
        g = (1 - t * t) * g
    elif settings.standardize:
        g = projection_vjp(u, g, bound, xp)
    if not settings.standardize:
        return g
    # u = k d / s, s^2 = |d|^2 / P + eps^2, d = r - mean(r) (centre) or r
    k, pixels = settings.contrast * bound, r.shape[1] * r.shape[2] * r.shape[3]
    inner = xp.sum(g * d, axis=(1, 2, 3, 4), keepdims=True)
    h = (k / scale) * g - (k * inner / (pixels * scale**3)) * d
    return h - xp.mean(h, axis=(1, 2, 3, 4), keepdims=True) if centre else h


def projection_vjp(r, g, bound, xp):
    """``J^T g`` of ``r -> r min(1, B/|r|)`` per pixel: ``(B/|r|)(g - r (r.g)/|r|^2)`` outside."""
    sq = channel_dot(r, r, xp)[..., None]
    outside = sq > bound * bound
    safe = xp.where(outside, sq, xp.ones_like(sq))
    radial = channel_dot(r, g, xp)[..., None] / safe
    return xp.where(outside, (bound / xp.sqrt(safe)) * (g - r * radial), g)


def _standardized(r, settings, bound, centre, xp):
    """``(u, d, s)``: the standardized output, the centred raw output and the scale (module notes)."""
    axes = (1, 2, 3, 4)
    d = r - xp.mean(r, axis=axes, keepdims=True) if centre else r
    pixels = r.shape[1] * r.shape[2] * r.shape[3]
    scale = xp.sqrt(xp.sum(d * d, axis=axes, keepdims=True) / pixels + (_EPS * bound) ** 2)
    return (settings.contrast * bound / scale) * d, d, scale


def _radial(u, bound, xp):
    """Per pixel, ``f = tanh(rho) / rho`` and ``q = f'(rho) / rho`` at ``rho = |u| / B'``."""
    edge = _EDGE * bound
    rho = xp.sqrt(channel_dot(u, u, xp)[..., None]) / edge
    small = rho < _SERIES
    safe = xp.where(small, xp.ones_like(rho), rho)
    t = xp.tanh(safe)
    rho2 = rho * rho
    f = xp.where(small, 1 - rho2 / 3 + 2 * rho2 * rho2 / 15, t / safe)
    q = xp.where(small, -2 / 3 + 8 * rho2 / 15 - 34 * rho2 * rho2 / 105,
                 (safe * (1 - t * t) - t) / (safe * safe * safe))
    return f, q
