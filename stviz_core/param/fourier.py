r"""The spatiotemporal Fourier parameterization, colour-decorrelated (Lucid's 2D idea in (t, y, x)).

The parameters are a complex half spectrum per channel, stored as real pairs,
shape ``(N, T, H, W//2+1, C, 2)``; the input is

    x = irfftn(S * Z) @ M.T        (real FFT over t, y, x; unitary)

with ``S = 1 / max(f, f_0)^alpha`` over the 3D frequency ``f`` (cycles per frame
and per pixel, one frame counting as one pixel; see
:func:`stviz_core.param._spectral.frequencies`), normalized to a mean square of 1,
and ``M`` Lucid's ImageNet colour matrix for RGB appearance, the identity for
flow (:func:`stviz_core.param._spectral.colour_matrix`). Adam's equal-sized steps
on every coefficient then move low frequencies more than high ones.

The bound: after each Adam step ``x`` is computed, every pixel vector projected
to norm ``<= B``, and the parameters replaced by the spectrum of the projected
``x`` (the map is invertible: no amplitude is zero), so the network always sees
an input inside the bound and the parameters always stand for it. Where no pixel
was projected the parameters already stand for ``x`` and are kept: on numpy arrays
(the Keras backend's kernel), one real FFT less per step; other namespaces always
map back, so their step's operations never depend on the values (no device read). With an
output stage (``squash``/``standardize``, :mod:`stviz_core.param._output`) the
input is ``output(x)``, inside the bound by construction, and the parameters
are left as Adam moved them.

With a canvas (:mod:`stviz_core.param._canvas`) the spectrum is the canvas's:
the FFT's periodic wrap-around ties the canvas's first frame to its last, both
outside the clip, not the clip's own first and last frames (likewise in space).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .._xp import from_numpy, namespace
from ._spectral import Basis, amplitude, channels_first, channels_last, colour_matrix, half_width
from ._output import forward, projection
from .base import Field, Parameterization, check_alpha

__all__ = ["Fourier", "init", "to_input", "to_input_vjp", "from_input"]


def _basis(shape, alpha, role, decorrelate, xp, dtype, device=None) -> Basis:
    return Basis(shape, amplitude(shape, alpha), colour_matrix(shape[-1], role, decorrelate),
                 xp=xp, dtype=dtype, device=device)


def init(shape, rng, *, bound, scale=1.0, alpha=1.0, role="appearance",
         decorrelate=True) -> np.ndarray:
    """Parameters of one visualization: white Gaussian coefficients, ``(T, H, W//2+1, C, 2)``.

    They are scaled so that the input's root-mean-square pixel norm is
    ``scale * bound / sqrt(3)``, that of the pixel parameterization's uniform
    noise. Drawn with numpy from ``rng``: the same numbers in every backend.
    """
    t, h, w, c = shape
    params = rng.standard_normal((t, h, half_width(w), c, 2))
    x = to_input(params[None], shape=shape, alpha=alpha, role=role, decorrelate=decorrelate)
    rms = np.sqrt(np.mean(np.sum(x * x, axis=-1)))
    return params * (scale * bound / np.sqrt(3) / rms)


def to_input(params, /, *, shape, alpha=1.0, role="appearance", decorrelate=True, xp=None):
    """The input ``(N, T, H, W, C)`` of parameters ``(N, T, H, W//2+1, C, 2)``; ``shape`` is ``(T, H, W, C)``."""
    xp = namespace(params, xp=xp)
    basis = _basis(shape, alpha, role, decorrelate, xp, params.dtype)
    return basis.to_input(basis.as_complex(params[..., 0], params[..., 1]))


def to_input_vjp(params, cotangent, /, *, shape, alpha=1.0, role="appearance", decorrelate=True,
                 xp=None):
    """The gradient w.r.t. ``params`` of ``<to_input(params), cotangent>`` (the map is linear)."""
    xp = namespace(cotangent, xp=xp)
    return _pairs(_basis(shape, alpha, role, decorrelate, xp, cotangent.dtype).adjoint(cotangent), xp)


def from_input(x, /, *, alpha=1.0, role="appearance", decorrelate=True, xp=None):
    """The parameters whose :func:`to_input` is ``x`` (``(N, T, H, W, C)``)."""
    xp = namespace(x, xp=xp)
    return _pairs(_basis(tuple(x.shape[1:]), alpha, role, decorrelate, xp, x.dtype).from_input(x), xp)


def _pairs(z, xp):
    return xp.stack([xp.real(z), xp.imag(z)], axis=-1)


@dataclass(frozen=True)
class Fourier(Parameterization):
    """Optimize a decorrelated space-time spectrum with 1/f^alpha amplitudes (module notes).

    Parameters
    ----------
    alpha : float
        Amplitude exponent in ``[0, 4]``; 1 is natural images' amplitude falloff,
        0 a white (unscaled) spectrum.
    decorrelate : bool
        Mix RGB channels with the ImageNet colour matrix (flow never is).
    canvas : float or (float, float)
        ``(time, space)`` size of the canvas relative to the clip, each in ``[1, 4]``.
    squash, standardize, contrast
        The output stage (:mod:`stviz_core.param._output`); off by default.
    """

    alpha: float = 1.0
    decorrelate: bool = True
    canvas: object = (1.0, 1.0)
    squash: Optional[str] = None
    standardize: bool = False
    contrast: float = 0.5
    name = "fourier"
    inverts = True

    def __post_init__(self):
        object.__setattr__(self, "alpha", check_alpha(self.alpha))
        object.__setattr__(self, "decorrelate", bool(self.decorrelate))
        self._check_shaping()

    def bind(self, shape, role, *, bound, xp, dtype, device=None) -> Field:
        return _FourierField(self, shape, role, **self._where(bound, xp, dtype, device))


class _FourierField(Field):
    def __init__(self, settings, shape, role, **where):
        super().__init__(shape, role, **where)
        self.settings = settings
        self.basis = _basis(self.canvas_shape, settings.alpha, role, settings.decorrelate, self.xp,
                            self.dtype, self.device)

    def init(self, rngs, *, scale):
        scale = self.start_scale(scale)
        s = self.settings
        params = np.stack([init(self.canvas_shape, rng, bound=self.bound, scale=scale,
                                alpha=s.alpha, role=self.role, decorrelate=s.decorrelate)
                           for rng in rngs])
        return from_numpy(params, self.xp, dtype=self.dtype, device=self.device)

    def _spectrum(self, params):
        return self.basis.as_complex(params[..., 0], params[..., 1])

    def _first(self, params):
        """The raw output, channels first: one inverse FFT per parameters (the stage and
        :meth:`_raw` both read it)."""
        return self.remembered("first", params, lambda p: self.basis.to_first(self._spectrum(p)))

    def _raw(self, params):
        return self.remembered("raw", params, lambda p: channels_last(self._first(p), self.xp))

    def _stage(self, params):
        """The output stage (or, without one, the projection) at the parameters' raw output,
        channels first (:class:`~stviz_core.param._output.Stage`)."""
        def make(p):
            first = self._first(p)
            if not self.output.active:
                return projection(first, bound=self.bound, xp=self.xp, axis=1)
            return forward(first, self.output, bound=self.bound, centre=self.centre, xp=self.xp,
                           axis=1)
        return self.remembered("stage", params, make)

    def to_canvas(self, params):
        if not self.output.active:
            return self._raw(params)
        return self.remembered("canvas", params,
                               lambda p: channels_last(self._stage(p).x, self.xp))

    def vjp(self, params, cotangent):
        g = self.canvas_cotangent(cotangent)
        if not self.output.active:
            return _pairs(self.basis.adjoint(g), self.xp)
        g = self._stage(params).vjp(channels_first(g, self.xp))
        return _pairs(self.basis.adjoint_first(g), self.xp)

    def constrain(self, params):
        if self.output.active:  # inside the bound by construction
            return params, self.to_input(params)
        stage = self._stage(params)  # the projection, channels first
        x = channels_last(stage.x, self.xp)
        if isinstance(stage.x, np.ndarray) and not stage.outside.any():
            return params, self.view(x)  # nothing projected: the parameters stand for x already
        return _pairs(self.basis.from_first(stage.x), self.xp), self.view(x)

    def from_input(self, x):
        if self.output.active:
            return super().from_input(x)
        return _pairs(self.basis.from_input(self.view.embed(x, self.xp)), self.xp)
