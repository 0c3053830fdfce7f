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
from ..regularizers import channel_dot

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


def output(r, settings: Output, *, bound, centre, xp, axis=-1):
    """The input ``x`` of the raw output ``r`` ``(N, T, H, W, C)`` (module notes).

    ``centre``: subtract the mean when standardizing (appearance; flow keeps its mean).
    Standardized without a squash, the output ends in the paper's projection (as maco's does).
    ``axis``: where the channels are (``1`` for ``(N, C, T, H, W)``: :class:`Stage`).
    """
    return forward(r, settings, bound=bound, centre=centre, xp=xp, axis=axis).x


def output_vjp(r, g, settings: Output, *, bound, centre, xp, axis=-1):
    """The gradient w.r.t. ``r`` of ``<output(r), g>``."""
    return forward(r, settings, bound=bound, centre=centre, xp=xp, axis=axis).vjp(g)


def projection_vjp(r, g, bound, xp, axis=-1):
    """``J^T g`` of ``r -> r min(1, B/|r|)`` per pixel: ``(B/|r|)(g - r (r.g)/|r|^2)`` outside."""
    return projection(r, bound=bound, xp=xp, axis=axis).vjp(g)


def projection(r, *, bound, xp, axis=-1) -> "Stage":
    """The paper's projection of every pixel vector of ``r`` to norm ``<= bound``, as a
    :class:`Stage` (its ``x`` and its ``vjp``)."""
    stage = Stage(r, None, 1.0, bound, axis, xp)
    stage.x = stage.projected()
    return stage


def forward(r, settings: Output, *, bound, centre, xp, axis=-1) -> "Stage":
    """The output stage at ``r``: its ``x``, and what :meth:`Stage.vjp` reads kept."""
    if not settings.standardize:
        stage = Stage(r, settings, 1.0, bound, axis, xp)
    else:
        d = r - xp.mean(r, axis=_ALL, keepdims=True) if centre else r
        stage = Stage(d, settings, None, bound, axis, xp, centre=centre)
        pixels = d.shape[1] * d.shape[2] * d.shape[3] * d.shape[4] / d.shape[axis]
        stage.scale = xp.sqrt(xp.sum(stage.norms(), axis=_ALL, keepdims=True) / pixels
                              + (_EPS * bound) ** 2)
        stage.gain, stage.pixels = (settings.contrast * bound) / stage.scale, pixels
    if settings.squash == "radial":
        stage.x = stage.radial()
    elif settings.squash == "channel":
        stage.x = stage.channel()
    elif settings.standardize:
        stage.x = stage.projected()
    else:
        stage.x = r
    return stage


_ALL = (1, 2, 3, 4)


class Stage:
    """The output stage at one raw output: its input ``x`` and the factors its VJP reads.

    The stage is ``x = gain * S * base`` per pixel for the radial squash and the projection
    (``base`` the centred raw output, ``gain`` the z-score's ``k / s`` or 1, ``S`` a per-pixel
    factor), ``b tanh(gain base / b)`` for the channel squash. The VJP has the same form,
    ``gain (S g + R base) - c base``, so it needs each pixel's ``base . g`` and its channel sums
    but no further pass over the channels; per-pixel factors are ``(N, 1, T, H, W)`` with the
    channels first (``axis=1``), which numpy and PyTorch broadcast over the channels ~10x
    faster than a ``(N, T, H, W, 1)`` factor over a last axis of 3.
    """

    def __init__(self, base, settings, gain, bound, axis, xp, *, centre=False):
        self.base, self.settings, self.gain, self.bound = base, settings, gain, bound
        self.axis, self.xp, self.centre = axis, xp, centre
        self.scale = self.pixels = self.x = self._norms = None
        self.factor = self.radial_factor = self.tanh = self.outside = None

    def dot(self, a, b):
        """Each pixel's inner product over the channels, keeping the channel axis (length 1)."""
        if self.axis in (-1, 4):
            return channel_dot(a, b, self.xp)[..., None]
        return self.channel_sum(a * b)

    def channel_sum(self, a):
        """Each pixel's sum over the channels, keeping the channel axis (length 1)."""
        last = self.axis in (-1, 4)
        total = a[..., 0:1] if last else a[:, 0:1, ...]
        for c in range(1, a.shape[self.axis]):
            total = total + (a[..., c:c + 1] if last else a[:, c:c + 1, ...])
        return total

    def norms(self):
        """Each pixel's squared norm of ``base`` (kept)."""
        if self._norms is None:
            self._norms = self.dot(self.base, self.base)
        return self._norms

    def _square_gain(self):
        return self.gain * self.gain if self.settings is not None and self.settings.standardize \
            else 1.0

    def radial(self):
        xp, edge = self.xp, _EDGE * self.bound
        rho = xp.sqrt(self.norms() * self._square_gain()) / edge
        small = rho < _SERIES
        safe = xp.where(small, xp.ones_like(rho), rho)
        t = xp.tanh(safe)
        rho2 = rho * rho
        self.factor = xp.where(small, 1 - rho2 / 3 + 2 * rho2 * rho2 / 15, t / safe)
        q = xp.where(small, -2 / 3 + 8 * rho2 / 15 - 34 * rho2 * rho2 / 105,
                     (safe * (1 - t * t) - t) / (safe * safe * safe))
        self.radial_factor = q * (self._square_gain() / (edge * edge))  # R = this * (base . g)
        return (self.gain * self.factor) * self.base

    def channel(self):
        b = _EDGE * self.bound / self.base.shape[self.axis] ** 0.5
        self.tanh = self.xp.tanh((self.gain / b) * self.base)
        return b * self.tanh

    def projected(self):
        xp, bound = self.xp, self.bound
        sq = self.norms() * self._square_gain()
        outside = self.outside = sq > bound * bound
        safe = xp.where(outside, sq, xp.ones_like(sq))
        self.factor = xp.where(outside, bound / xp.sqrt(safe), xp.ones_like(sq))
        # R = this * (base . g): -(B/|u|) u (u.g)/|u|^2 outside, with u = gain base
        self.radial_factor = xp.where(outside, -self.factor * self._square_gain() / safe,
                                      xp.zeros_like(sq))
        return (self.gain * self.factor) * self.base

    def vjp(self, g):
        """The gradient w.r.t. the raw output of ``<x, g>`` (``g`` in ``x``'s layout)."""
        xp, standardize = self.xp, self.settings is not None and self.settings.standardize
        if self.tanh is not None:
            g1 = (1 - self.tanh * self.tanh) * g
            if not standardize:
                return g1
            inner = xp.sum(g1 * self.base, axis=_ALL, keepdims=True)
            h = self.gain * g1 - (self.gain * inner / (self.pixels * self.scale**2)) * self.base
            return h - xp.mean(h, axis=_ALL, keepdims=True) if self.centre else h
        bg = self.dot(self.base, g)
        r = self.radial_factor * bg
        if not standardize:
            return self.factor * g + r * self.base
        # h = gain (S g + R d) - c d with c = gain <S g + R d, d> / (P s^2): per-pixel sums only
        inner = xp.sum(self.factor * bg + r * self.norms(), axis=_ALL, keepdims=True)
        c = self.gain * inner / (self.pixels * self.scale**2)
        on_g, on_d = self.gain * self.factor, self.gain * r - c
        h = on_g * g + on_d * self.base
        if not self.centre:
            return h
        mean = (xp.sum(on_g * self.channel_sum(g), axis=_ALL, keepdims=True)
                + xp.sum(on_d * self.channel_sum(self.base), axis=_ALL, keepdims=True))
        return h - mean / (self.pixels * self.base.shape[self.axis])
