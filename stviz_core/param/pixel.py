"""The pixel parameterization: the input is the parameter (the paper's, and the default).

Noise is drawn uniformly inside the bound, as Mahendran and Vedaldi start;
after each step every pixel vector is projected back to norm ``<= B``. With a
squash (:mod:`stviz_core.param._output`) the parameters are the pixels before
it, unconstrained, and the input is inside the bound by construction; with a
canvas they are the canvas's pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from .._xp import from_numpy
from ..initialization import uniform_noise
from ..regularizers import project_to_bound_unchecked
from ._output import output, output_vjp
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
    """Optimize the pixels (the paper's parameterization).

    Parameters
    ----------
    canvas : float or (float, float)
        ``(time, space)`` size of the optimized canvas relative to the clip, each in
        ``[1, 4]`` (:mod:`stviz_core.param._canvas`); 1: none.
    squash, standardize, contrast
        The output stage (:mod:`stviz_core.param._output`); off by default.
    """

    canvas: object = (1.0, 1.0)
    squash: Optional[str] = None
    standardize: bool = False
    contrast: float = 0.5
    name = "pixel"
    moment = "pixel"
    inverts = True

    def __post_init__(self):
        self._check_shaping()

    def bind(self, shape, role, *, bound, xp, dtype, device=None) -> Field:
        return _PixelField(shape, role, **self._where(bound, xp, dtype, device))


class _PixelField(Field):
    def init(self, rngs, *, scale):
        scale = self.start_scale(scale)
        noise = np.stack([init(self.canvas_shape, rng, bound=self.bound, scale=scale)
                          for rng in rngs])
        return from_numpy(noise, self.xp, dtype=self.dtype, device=self.device)

    def to_canvas(self, params):
        if not self.output.active:
            return params
        return self.remembered("canvas", params, lambda p: output(
            p, self.output, bound=self.bound, centre=self.centre, xp=self.xp))

    def vjp(self, params, cotangent):
        g = self.canvas_cotangent(cotangent)
        if not self.output.active:
            return g
        return output_vjp(params, g, self.output, bound=self.bound, centre=self.centre, xp=self.xp)

    def constrain(self, params):
        if self.output.active:  # inside the bound by construction
            return params, self.to_input(params)
        x = project_to_bound_unchecked(params, self.bound, self.xp)
        return x, self.view(x)

    def initial(self, params):
        if self.output.active:
            return params, self.to_input(params)
        return params, self.view(params)  # not projected: the paper's start, unchanged

    def from_input(self, x):
        if self.output.active:
            return super().from_input(x)
        return self.view.embed(x, self.xp)
