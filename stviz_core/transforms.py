"""Transformation robustness: a random scale, rotation, frame shift and speed at every step.

The paper jitters the input by a random offset (:mod:`stviz_core.jitter`);
Lucid adds random scales and rotations. :class:`Transforms` generalizes both to
video: before each forward pass every input of visualization ``n`` is, after
its jitter,

1. **warped in the image plane** by ``s R(theta)`` about its centre (bilinear,
   reads outside the frame give 0: the mean colour, zero motion);
2. **retimed**, where it has more than one frame: frame ``t`` shows the clip at
   ``speed (t - c) + c + shift`` (linear interpolation; ``c`` the middle frame;
   the clip holds its first or last frame beyond its ends, so a shift crops at
   one end and pads at the other rather than wrapping around).

Flow transforms as motion does: the warp rotates each ``(u, v)`` vector by
``theta`` and scales its length by ``s``; a speed ``speed`` multiplies it by
``speed`` (displacements per frame grow as the clip plays faster). All inputs of
one visualization get the same numbers, so the streams stay aligned. The
gradient goes back through the exact adjoint (:mod:`stviz_core.resample`).

The numbers are drawn with numpy, one uniform per kind and step from each
visualization's own generator (its seed's third child), so every backend sees
the same ones and switching one kind on or off leaves the others' draws alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional

import numpy as np

from ._checks import non_negative_int, real
from ._xp import array_device, from_numpy
from .resample import affine_table, gather, retime_table, rotation_scale

__all__ = ["Transforms", "Draws", "Warp"]

KINDS = ("scale", "rotate", "time_shift", "speed")


@dataclass(frozen=True)
class Transforms:
    """Which random transforms to apply, and their ranges (none by default).

    Parameters
    ----------
    scale : (float, float), optional
        Range of the spatial scale ``s`` (> 1 enlarges), ``0 < lo <= hi``;
        drawn log-uniformly, so ``s`` and ``1/s`` are equally likely.
    rotate : float or (float, float), optional
        Range of the rotation in degrees inside ``[-180, 180]``; a number ``r``
        means ``(-r, r)``. Drawn uniformly.
    time_shift : int
        Largest frame shift; shifts are integers in ``-time_shift..time_shift``.
    speed : (float, float), optional
        Range of the playback speed (> 1 faster), ``0 < lo <= hi``; log-uniform.
    """

    scale: Optional[tuple] = None
    rotate: Optional[tuple] = None
    time_shift: int = 0
    speed: Optional[tuple] = None

    def __post_init__(self):
        rotate = self.rotate
        if rotate is not None and not isinstance(rotate, (tuple, list)):
            rotate = (-abs(real(rotate, "rotate")), abs(real(rotate, "rotate")))
        object.__setattr__(self, "scale", _range(self.scale, "scale", 0.0, math.inf))
        object.__setattr__(self, "rotate", _range(rotate, "rotate", -180.0, 180.0, closed=True))
        object.__setattr__(self, "time_shift", non_negative_int(self.time_shift, "time_shift"))
        object.__setattr__(self, "speed", _range(self.speed, "speed", 0.0, math.inf))

    @property
    def spatial(self) -> bool:
        """Whether a scale or rotation is drawn."""
        return self.scale is not None or self.rotate is not None

    @property
    def temporal(self) -> bool:
        """Whether a frame shift or speed is drawn."""
        return self.time_shift > 0 or self.speed is not None

    @property
    def active(self) -> bool:
        return self.spatial or self.temporal

    def draw(self, rngs, steps: int) -> "Draws":
        """The numbers of every step: one numpy Generator per visualization."""
        u = np.stack([rng.random((len(KINDS), steps)) for rng in rngs], axis=-1)  # (4, steps, N)
        return Draws(scale=_log_uniform(self.scale, u[0]), angle=_uniform(self.rotate, u[1]),
                     shift=np.floor(u[2] * (2 * self.time_shift + 1)) - self.time_shift,
                     speed=_log_uniform(self.speed, u[3]))

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()}

    @classmethod
    def from_dict(cls, data: Optional[Mapping]) -> "Transforms":
        """Rebuild from :meth:`to_dict` (``None``: no transforms)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in (data or {}).items()})


@dataclass(frozen=True)
class Draws:
    """Per step and visualization, ``(steps, N)`` each: scale, angle (degrees), shift, speed."""

    scale: np.ndarray
    angle: np.ndarray
    shift: np.ndarray
    speed: np.ndarray

    def at(self, step: int) -> "Draws":
        """The ``(N,)`` numbers of one step."""
        return Draws(self.scale[step], self.angle[step], self.shift[step], self.speed[step])


class Warp:
    """One step's transforms of one input: :meth:`apply` and its adjoint :meth:`adjoint`.

    Parameters
    ----------
    settings : Transforms
    draws : Draws
        The step's ``(N,)`` numbers (:meth:`Draws.at`).
    shape : tuple
        ``(T, H, W, C)`` of the input.
    role : {"appearance", "motion"}
    """

    def __init__(self, settings: Transforms, draws: Draws, shape, role: str):
        t, h, w, c = shape
        self.shape, self.vectors = tuple(shape), role == "motion" and c == 2
        n = len(draws.scale)
        self.matrices = [rotation_scale(draws.angle[i], draws.scale[i]) for i in range(n)]
        self.space = [affine_table(h, w, m) for m in self.matrices] if settings.spatial else None
        self.speed = draws.speed
        self.time = ([retime_table(t, draws.speed[i], draws.shift[i]) for i in range(n)]
                     if settings.temporal and t > 1 else None)

    def apply(self, x, xp):
        """The transformed input ``(N, T, H, W, C)``."""
        return xp.concat([self._item(x[i:i + 1, ...], i, xp, False) for i in range(x.shape[0])],
                         axis=0)

    def adjoint(self, g, xp):
        """The adjoint of :meth:`apply` (the gradient pulled back through it)."""
        return xp.concat([self._item(g[i:i + 1, ...], i, xp, True) for i in range(g.shape[0])],
                         axis=0)

    def _item(self, x, i, xp, adjoint):
        t, h, w, c = self.shape
        steps = [self._space, self._time]
        for step in reversed(steps) if adjoint else steps:
            x = step(x, i, xp, adjoint, (t, h, w, c))
        return x

    def _space(self, x, i, xp, adjoint, shape):
        if self.space is None:
            return x
        t, h, w, c = shape
        m = self.matrices[i]
        if adjoint and self.vectors:
            x = xp.matmul(x, _const(m, x, xp))  # row vectors: (A^T)^T = A
        table = self.space[i].transpose() if adjoint else self.space[i]
        x = xp.reshape(gather(xp.reshape(x, (t, h * w, c)), table, 1, xp), (1, t, h, w, c))
        if not adjoint and self.vectors:
            x = xp.matmul(x, _const(m.T, x, xp))  # (u, v) -> A (u, v)
        return x

    def _time(self, x, i, xp, adjoint, shape):
        if self.time is None:
            return x
        t, h, w, c = shape
        table = self.time[i].transpose() if adjoint else self.time[i]
        x = xp.reshape(gather(xp.reshape(x, (t, h * w * c)), table, 0, xp), (1, t, h, w, c))
        return x * float(self.speed[i]) if self.vectors else x


def _const(values, like, xp):
    return from_numpy(values, xp, dtype=like.dtype, device=array_device(like))


def _range(value, name, lo, hi, closed=False):
    if value is None:
        return None
    pair = tuple(real(v, name) for v in value) if isinstance(value, (tuple, list)) else ()
    ok = len(pair) == 2 and pair[0] <= pair[1] and (
        lo <= pair[0] and pair[1] <= hi if closed else lo < pair[0] and pair[1] < hi)
    if not ok:
        domain = f"{lo:g} <= lo <= hi <= {hi:g}" if closed else f"{lo:g} < lo <= hi"
        raise ValueError(f"{name} must be a range (lo, hi) with {domain}, got {value!r}")
    return pair


def _uniform(pair, u):
    return np.zeros_like(u) if pair is None else pair[0] + u * (pair[1] - pair[0])


def _log_uniform(pair, u):
    return np.ones_like(u) if pair is None else np.exp(_uniform((math.log(pair[0]),
                                                                 math.log(pair[1])), u))
