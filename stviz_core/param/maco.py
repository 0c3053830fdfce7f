r"""The magnitude-constrained parameterization (MaCo-style): a fixed natural spectrum, phases optimized.

The parameters are one phase per half-spectrum coefficient and channel, shape
``(N, T, H, W//2+1, C)``; the input is

    x = P_B( irfftn(A * exp(i phi)) @ M.T )

with the fixed amplitude ``A = a / max(f, f_0)^alpha`` over the 3D frequency
(as in :mod:`stviz_core.param.fourier`), ``a`` set so that the input's
root-mean-square pixel norm is ``rms * B`` before the projection, ``M`` the
colour matrix (RGB appearance) or the identity (flow), and ``P_B`` the paper's
projection of every pixel vector to norm ``<= B``.

The bound: the projection is the map's last layer, so the input is inside the
bound for any phases, at every step and at the end; nothing is mapped back
(no phases exist for an arbitrary projected input). Its Jacobian is part of
the vector-Jacobian product, so the gradient is exact wherever no pixel sits
on the bound's edge. The amplitude spectrum is the natural one exactly where
no pixel is clipped; with ``rms = 0.35`` a random-phase input is clipped
nowhere (the bound is about five standard deviations away).

Adam's second moment is shared per frequency (``moment = "pixel"``: over the
channels' phases), so each phase turns by about the learning rate, in radians,
per step; one moment for the whole clip would turn the few phases a unit cares
about by several radians at once.

With an output stage (``squash``/``standardize``, :mod:`stviz_core.param._output`)
it replaces ``P_B`` as the last layer: MaCo's z-score and sigmoid, the bound
still holding by construction. With a canvas (:mod:`stviz_core.param._canvas`)
the spectrum is the canvas's, the clip its centre.

Note for video: ``A`` depends on ``|f|`` only, so it gives a frequency and its
time-reversed twin ``(-f_t, f_y, f_x)`` the same amplitude. The motion energy
in the two directions is therefore equal; a direction of motion lives in the
phases' coherence alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import numpy as np

from .._checks import real
from .._xp import from_numpy, namespace
from ._output import forward, projection
from ._spectral import Basis, amplitude, channels_first, channels_last, colour_matrix, half_width
from .base import Field, Parameterization, check_alpha

__all__ = ["Maco", "init", "to_input", "to_input_vjp"]


def _basis(shape, bound, alpha, rms, role, decorrelate, xp, dtype, device=None) -> Basis:
    colour = colour_matrix(shape[-1], role, decorrelate)
    gain = rms * bound / np.linalg.norm(colour)  # RMS pixel norm rms * B for random phases
    return Basis(shape, gain * amplitude(shape, alpha), colour, xp=xp, dtype=dtype, device=device)


def init(shape, rng) -> np.ndarray:
    """Phases of one visualization, uniform in ``[-pi, pi)``, ``(T, H, W//2+1, C)``."""
    t, h, w, c = shape
    return rng.uniform(-math.pi, math.pi, size=(t, h, half_width(w), c))


def to_input(params, /, *, shape, bound, alpha=1.0, rms=0.35, role="appearance",
             decorrelate=True, xp=None):
    """The input ``(N, T, H, W, C)`` of phases ``(N, T, H, W//2+1, C)``; ``shape`` is ``(T, H, W, C)``."""
    xp = namespace(params, xp=xp)
    basis = _basis(shape, bound, alpha, rms, role, decorrelate, xp, params.dtype)
    return channels_last(_projected(basis, _trig(params, xp), bound, xp).x, xp)


def to_input_vjp(params, cotangent, /, *, shape, bound, alpha=1.0, rms=0.35, role="appearance",
                 decorrelate=True, xp=None):
    """The gradient w.r.t. the phases of ``<to_input(params), cotangent>``."""
    xp = namespace(params, cotangent, xp=xp)
    basis = _basis(shape, bound, alpha, rms, role, decorrelate, xp, params.dtype)
    trig = _trig(params, xp)
    g = _projected(basis, trig, bound, xp).vjp(channels_first(cotangent, xp))
    return _phase_gradient(basis, g, trig, xp)


def _trig(phases, xp):
    return xp.cos(phases), xp.sin(phases)


def _raw_first(basis, trig):
    """The raw output of phases with ``(cos, sin)`` ``trig``, channels first."""
    return basis.to_first(basis.as_complex(*trig))


def _projected(basis, trig, bound, xp):
    """The projection's :class:`~stviz_core.param._output.Stage` at the phases' raw output."""
    return projection(_raw_first(basis, trig), bound=bound, xp=xp, axis=1)


def _phase_gradient(basis, g_first, trig, xp):
    """The gradient w.r.t. the phases of ``<raw(phases), g>`` for ``g`` channels first, from the
    phases' ``(cos, sin)`` ``trig``."""
    g = basis.adjoint_first(g_first)
    cos, sin = trig
    # d/dphi of Re(z) g_re + Im(z) g_im with z = exp(i phi), amplitude inside the basis
    return cos * xp.imag(g) - sin * xp.real(g)


@dataclass(frozen=True)
class Maco(Parameterization):
    """Optimize phases under a fixed natural 1/f^alpha amplitude spectrum (module notes).

    Parameters
    ----------
    alpha : float
        Amplitude exponent in ``[0, 4]`` (1: natural images).
    rms : float
        Root-mean-square pixel norm of a random-phase input as a fraction of
        the bound, in ``(0, 1]``.
    decorrelate : bool
        Mix RGB channels with the ImageNet colour matrix (flow never is).
    canvas : float or (float, float)
        ``(time, space)`` size of the canvas relative to the clip, each in ``[1, 4]``.
    squash, standardize, contrast
        The output stage (:mod:`stviz_core.param._output`) in place of the projection.
    """

    alpha: float = 1.0
    rms: float = 0.35
    decorrelate: bool = True
    canvas: object = (1.0, 1.0)
    squash: Optional[str] = None
    standardize: bool = False
    contrast: float = 0.5
    name = "maco"
    moment = "pixel"

    def __post_init__(self):
        object.__setattr__(self, "alpha", check_alpha(self.alpha))
        rms = real(self.rms, "rms")
        if not 0 < rms <= 1:
            raise ValueError(f"rms must be in (0, 1] (a fraction of the bound), got {rms}")
        object.__setattr__(self, "rms", rms)
        object.__setattr__(self, "decorrelate", bool(self.decorrelate))
        self._check_shaping()

    def bind(self, shape, role, *, bound, xp, dtype, device=None) -> Field:
        return _MacoField(self, shape, role, **self._where(bound, xp, dtype, device))


class _MacoField(Field):
    def __init__(self, settings, shape, role, **where):
        super().__init__(shape, role, **where)
        self.basis = _basis(self.canvas_shape, self.bound, settings.alpha, settings.rms, role,
                            settings.decorrelate, self.xp, self.dtype, self.device)

    def init(self, rngs, *, scale):
        phases = np.stack([init(self.canvas_shape, rng) for rng in rngs])  # scale: fixed by rms
        return from_numpy(phases, self.xp, dtype=self.dtype, device=self.device)

    def _stage(self, params):
        """The output stage, or the projection without one, at the phases' raw output, channels
        first (:class:`~stviz_core.param._output.Stage`); made once per step."""
        def make(p):
            if not self.output.active:
                return _projected(self.basis, self._trig(p), self.bound, self.xp)
            return forward(_raw_first(self.basis, self._trig(p)), self.output, bound=self.bound,
                           centre=self.centre, xp=self.xp, axis=1)
        return self.remembered("stage", params, make)

    def to_canvas(self, params):
        return self.remembered("canvas", params,
                               lambda p: channels_last(self._stage(p).x, self.xp))

    def vjp(self, params, cotangent):
        g = self._stage(params).vjp(channels_first(self.canvas_cotangent(cotangent), self.xp))
        return _phase_gradient(self.basis, g, self._trig(params), self.xp)

    def _trig(self, params):
        """The phases' ``(cos, sin)``, made once per step (the map and its VJP read them)."""
        return self.remembered("trig", params, lambda p: _trig(p, self.xp))

    def constrain(self, params):
        return params, self.to_input(params)
