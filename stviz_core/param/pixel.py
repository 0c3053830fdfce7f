"""The pixel parameterization: the input is the parameter (the paper's, and the default).

Noise is drawn uniformly inside the bound, as Mahendran and Vedaldi start;
after each step every pixel vector is projected back to norm ``<= B``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._xp import from_numpy
from ..initialization import uniform_noise
from ..regularizers import project_to_bound_unchecked
from .base import Field, Parameterization

__all__ = ["Pixel", "init", "to_input", "to_input_vjp", "from_input"]


def init(shape, rng, *, bound, scale=1.0) -> np.ndarray:
    """Initial input of one visualization: see :func:`stviz_core.initialization.uniform_noise`."""
    return uniform_noise(shape, bound=bound, scale=scale, rng=rng)


def to_input(params, /, *, xp=None):
    """The input: ``params`` itself."""
    return params


def to_input_vjp(params, cotangent, /, *, xp=None):
    """The gradient w.r.t. ``params``: ``cotangent`` itself."""
    return cotangent


def from_input(x, /, *, xp=None):
    """The parameters of input ``x``: ``x`` itself."""
    return x


@dataclass(frozen=True)
class Pixel(Parameterization):
    """Optimize the pixels (the paper's parameterization)."""

    name = "pixel"
    moment = "pixel"
    takes_init = True

    def bind(self, shape, role, *, bound, xp, dtype, device=None) -> Field:
        return _PixelField(shape, role, bound=bound, xp=xp, dtype=dtype, device=device)

    def to_dict(self) -> dict:
        return {"name": self.name}


class _PixelField(Field):
    def init(self, rngs, *, scale):
        noise = np.stack([init(self.shape, rng, bound=self.bound, scale=scale) for rng in rngs])
        return from_numpy(noise, self.xp, dtype=self.dtype, device=self.device)

    def to_input(self, params):
        return params

    def vjp(self, params, cotangent):
        return cotangent

    def constrain(self, params):
        x = project_to_bound_unchecked(params, self.bound, self.xp)
        return x, x

    def initial(self, params):
        return params, params  # not projected: the paper's start, unchanged

    def from_input(self, x):
        return x
