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
an input inside the bound and the parameters always stand for it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._xp import from_numpy, namespace
from ..regularizers import project_to_bound_unchecked
from ._spectral import Basis, amplitude, colour_matrix, half_width
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
    """

    alpha: float = 1.0
    decorrelate: bool = True
    name = "fourier"
    takes_init = True

    def __post_init__(self):
        object.__setattr__(self, "alpha", check_alpha(self.alpha))
        object.__setattr__(self, "decorrelate", bool(self.decorrelate))

    def bind(self, shape, role, *, bound, xp, dtype, device=None) -> Field:
        return _FourierField(self, shape, role, bound=bound, xp=xp, dtype=dtype, device=device)


class _FourierField(Field):
    def __init__(self, settings, shape, role, **where):
        super().__init__(shape, role, **where)
        self.settings = settings
        self.basis = _basis(self.shape, settings.alpha, role, settings.decorrelate, self.xp,
                            self.dtype, self.device)

    def init(self, rngs, *, scale):
        s = self.settings
        params = np.stack([init(self.shape, rng, bound=self.bound, scale=scale, alpha=s.alpha,
                                role=self.role, decorrelate=s.decorrelate) for rng in rngs])
        return from_numpy(params, self.xp, dtype=self.dtype, device=self.device)

    def to_input(self, params):
        return self.basis.to_input(self.basis.as_complex(params[..., 0], params[..., 1]))

    def vjp(self, params, cotangent):
        return _pairs(self.basis.adjoint(cotangent), self.xp)

    def constrain(self, params):
        x = project_to_bound_unchecked(self.to_input(params), self.bound, self.xp)
        return _pairs(self.basis.from_input(x), self.xp), x

    def from_input(self, x):
        return _pairs(self.basis.from_input(x), self.xp)
