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

3. before both, where its parameterization optimizes a canvas larger than the
   clip (:mod:`stviz_core.param._canvas`), **cropped** from it (``crop``): a box of
   a random fraction of the canvas's side (never smaller than the clip) at a
   random place, resampled to the clip's size (bilinear; flow vectors scaled with
   the image), and ``T`` consecutive frames chosen so that over a run every
   frame of the returned clip (the canvas's centre) is in the crops equally
   often (:func:`crop_start`). Without ``crop`` the network sees the centre.

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
from .resample import affine_table, crop_table, frame_table, gather, retime_table, rotation_scale

__all__ = ["Transforms", "Draws", "Warp", "step_warps", "crop_start", "crop_phases", "check_crop"]

KINDS = ("scale", "rotate", "time_shift", "speed")
#: the crop's numbers, drawn after the others': size, top, left, the time round's phase and order
CROP_KINDS = ("crop_size", "crop_y", "crop_x", "phase", "order")


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
    crop : (float, float), optional
        Range of the crop's side as a fraction of the canvas's side, ``0 < lo <= hi <= 1``
        (log-uniform); ``lo`` times the canvas must not be smaller than the clip
        (:func:`check_crop`). Needs a parameterization with a canvas; without
        ``crop`` a canvas's centre is fed.
    """

    scale: Optional[tuple] = None
    rotate: Optional[tuple] = None
    time_shift: int = 0
    speed: Optional[tuple] = None
    crop: Optional[tuple] = None

    def __post_init__(self):
        rotate = self.rotate
        if rotate is not None and not isinstance(rotate, (tuple, list)):
            rotate = (-abs(real(rotate, "rotate")), abs(real(rotate, "rotate")))
        object.__setattr__(self, "scale", _range(self.scale, "scale", 0.0, math.inf))
        object.__setattr__(self, "rotate", _range(rotate, "rotate", -180.0, 180.0, closed=True))
        object.__setattr__(self, "time_shift", non_negative_int(self.time_shift, "time_shift"))
        object.__setattr__(self, "speed", _range(self.speed, "speed", 0.0, math.inf))
        object.__setattr__(self, "crop", _crop_range(self.crop))

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
        return self.spatial or self.temporal or self.crop is not None

    def draw(self, rngs, steps: int) -> "Draws":
        """The numbers of every step: one numpy Generator per visualization.

        The crop's are drawn after the others' (which are those of a run without a crop).
        """
        u = [rng.random((len(KINDS), steps)) for rng in rngs]  # the others' first, as before
        c = np.stack([rng.random((len(CROP_KINDS), steps)) for rng in rngs], axis=-1)
        u = np.stack(u, axis=-1)  # (4, steps, N)
        phase, part = crop_phases(c[3], c[4])
        return Draws(scale=_log_uniform(self.scale, u[0]), angle=_uniform(self.rotate, u[1]),
                     shift=np.floor(u[2] * (2 * self.time_shift + 1)) - self.time_shift,
                     speed=_log_uniform(self.speed, u[3]),
                     crop_size=_log_uniform(self.crop, c[0]), crop_y=c[1], crop_x=c[2],
                     phase=phase, part=part)

    def to_dict(self) -> dict:
        """The settings (``crop`` only when set, so runs without it record what they did)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self.__dict__.items()
                if k != "crop" or v is not None}

    @classmethod
    def from_dict(cls, data: Optional[Mapping]) -> "Transforms":
        """Rebuild from :meth:`to_dict` (``None``: no transforms)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in (data or {}).items()})


@dataclass(frozen=True)
class Draws:
    """Per step and visualization, ``(steps, N)`` each: scale, angle (degrees), shift, speed;
    the crop's side (a fraction of the canvas's), top and left (fractions of the room
    left), the time round's phase in ``[0, 1)`` (``-1``: the centre) and part (0 or 1)
    (:func:`crop_start`); ``None`` for no crop numbers (the centre)."""

    scale: np.ndarray
    angle: np.ndarray
    shift: np.ndarray
    speed: np.ndarray
    crop_size: Optional[np.ndarray] = None
    crop_y: Optional[np.ndarray] = None
    crop_x: Optional[np.ndarray] = None
    phase: Optional[np.ndarray] = None
    part: Optional[np.ndarray] = None

    def at(self, step: int) -> "Draws":
        """The ``(N,)`` numbers of one step."""
        return Draws(*(None if v is None else v[step] for v in self.__dict__.values()))


class Warp:
    """One step's transforms of one input: :meth:`apply` and its adjoint :meth:`adjoint`.

    Parameters
    ----------
    settings : Transforms
    draws : Draws or None
        The step's ``(N,)`` numbers (:meth:`Draws.at`); ``None``: only a canvas's centre crop.
    shape : tuple
        ``(T, H, W, C)`` of the input (the clip the network sees).
    role : {"appearance", "motion"}
    canvas : tuple, optional
        ``(T', H', W', C)`` of the canvas the input is cropped from; the clip's if omitted.
    in_time : bool
        Whether the crop moves in time (:func:`step_warps`: not where the visualization's
        inputs differ in frame count, which would move one stream against another).
    """

    def __init__(self, settings: Transforms, draws: Optional[Draws], shape, role: str,
                 canvas=None, in_time: bool = True):
        t, h, w, c = shape
        self.shape, self.vectors = tuple(shape), role == "motion" and c == 2
        self.canvas = self.shape if canvas is None else tuple(canvas)
        n = 0 if draws is None else len(draws.scale)
        self.matrices = [rotation_scale(draws.angle[i], draws.scale[i]) for i in range(n)]
        self.space = ([affine_table(h, w, m) for m in self.matrices]
                      if settings.spatial and n else None)
        self.speed = None if draws is None else draws.speed
        self.time = ([retime_table(t, draws.speed[i], draws.shift[i]) for i in range(n)]
                     if settings.temporal and t > 1 and n else None)
        self.crops = None
        if self.canvas != self.shape:
            random = settings.crop is not None and draws is not None and draws.phase is not None
            if random:
                check_crop(settings.crop, self.shape, self.canvas)
            self.crops = [_crop(self.shape, self.canvas, draws, i if random else None, in_time)
                          for i in range(n if random else 1)]

    def apply(self, x, xp):
        """The transformed input ``(N, T, H, W, C)`` (of a canvas ``(N, T', H', W', C)``)."""
        return xp.concat([self._item(x[i:i + 1, ...], i, xp, False) for i in range(x.shape[0])],
                         axis=0)

    def adjoint(self, g, xp):
        """The adjoint of :meth:`apply` (the gradient pulled back through it, canvas-shaped)."""
        return xp.concat([self._item(g[i:i + 1, ...], i, xp, True) for i in range(g.shape[0])],
                         axis=0)

    def _item(self, x, i, xp, adjoint):
        t, h, w, c = self.shape
        steps = [self._crop, self._space, self._time]
        for step in reversed(steps) if adjoint else steps:
            x = step(x, i, xp, adjoint, (t, h, w, c))
        return x

    def _crop(self, x, i, xp, adjoint, shape):
        if self.crops is None:
            return x
        t, h, w, c = shape
        ct, ch, cw, _ = self.canvas
        time, space, vector_scale = self.crops[min(i, len(self.crops) - 1)]
        if adjoint and self.vectors:
            x = x * _const(vector_scale, x, xp)
        if adjoint:
            x = gather(xp.reshape(x, (t, h * w, c)), space.transpose(), 1, xp)
            x = gather(xp.reshape(x, (t, ch * cw * c)), time.transpose(), 0, xp)
            return xp.reshape(x, (1, ct, ch, cw, c))
        x = gather(xp.reshape(x, (ct, ch * cw * c)), time, 0, xp)
        x = xp.reshape(gather(xp.reshape(x, (t, ch * cw, c)), space, 1, xp), (1, t, h, w, c))
        return x * _const(vector_scale, x, xp) if self.vectors else x

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


def step_warps(settings: Transforms, draws: Optional[Draws], specs, x) -> dict:
    """This step's :class:`Warp` of each input in ``specs`` (``{name: spec}`` with ``shape`` and
    ``role``) that has transforms or is a canvas (``x[name]`` larger than ``spec.shape``).

    Crops move in time only where the inputs share a frame count: a two-stream net's single
    appearance frame has no time canvas, so its flow stack's crops keep the centre frames.
    """
    in_time = len({spec.shape[0] for spec in specs.values()}) <= 1
    warps = {}
    for k, spec in specs.items():
        canvas = tuple(x[k].shape[1:])
        if draws is not None or canvas != tuple(spec.shape):
            warps[k] = Warp(settings, draws, spec.shape, spec.role, canvas=canvas,
                            in_time=in_time)
    return warps


def crop_phases(phase_u, order_u):
    """Per step, the time round's phase and part from two ``(steps, N)`` uniforms.

    Steps ``2r`` and ``2r + 1`` form round ``r``: one phase (drawn at ``2r``) and
    its two crops in a random order; an odd last step has phase ``-1`` (the
    centre), so every round is complete (:func:`crop_start`).
    """
    steps = phase_u.shape[0]
    first = (np.arange(steps) // 2) * 2
    phase = phase_u[first].copy()
    part = ((np.arange(steps)[:, None] % 2) ^ (order_u[first] < 0.5)).astype(np.int64)
    if steps % 2:
        phase[-1] = -1.0
    return phase, part


def crop_start(frames: int, canvas_frames: int, phase: float, part: int) -> int:
    """The first canvas frame of a crop of ``frames`` frames, from its round's phase and part.

    The clip is the canvas's frames ``a .. a + T - 1`` (``a = (T' - T) // 2``). A
    round of phase ``d`` (one of the phases the canvas allows, picked by
    ``phase`` in ``[0, 1)``) takes the crops starting at ``a - d`` and ``a - d + T``,
    which tile ``a - d .. a - d + 2T - 1``: every clip frame is in exactly one of
    them, at position ``(i + d) mod T``. Phase 0 (and ``phase < 0``) takes the
    centre, the clip itself, in both parts. So every clip frame is in the crops
    equally often over any whole number of rounds, and, where the canvas allows
    every phase (margins of ``T - 1`` frames: ``T' >= 3T - 2``), at every position
    of the network's window equally often.
    """
    before = (canvas_frames - frames) // 2
    after = canvas_frames - frames - before
    if phase < 0:
        return before
    phases = [0] + [d for d in range(1, frames) if d <= before and frames - d <= after]
    d = phases[min(int(phase * len(phases)), len(phases) - 1)]
    if d == 0:
        return before
    return before - d if part == 0 else before - d + frames


def check_crop(crop, shape, canvas) -> None:
    """Raise a one-line ``ValueError`` unless crops of ``crop`` (fractions of the canvas's side)
    are no smaller than the clip ``shape`` (``(T, H, W, C)``) in a ``canvas`` ``(T', H', W', C)``."""
    if crop is None:
        return
    lo = crop[0]
    for name, n, m in (("height", shape[1], canvas[1]), ("width", shape[2], canvas[2])):
        if lo * m < n - 1e-9:
            raise ValueError(
                f"crop={tuple(crop)!r} takes crops of {lo:g} x {m} = {lo * m:g} pixels ({name}), "
                f"smaller than the clip's {n}: crops are fractions of the canvas's side in (0, 1] "
                f"no smaller than the clip, here >= {n / m:.4g}"
                + ("" if m > n else "; give the parameterization a canvas (canvas=(time, space))"))


def _crop(shape, canvas, draws, i, in_time=True):
    """``(time table, space table, (sx, sy))`` of item ``i``'s crop (``i=None``: the centre;
    ``in_time=False``: the centre frames)."""
    t, h, w, _ = shape
    ct, ch, cw, _ = canvas
    if i is None:
        start, box = (ct - t) // 2, ((ch - h) // 2, (cw - w) // 2, h, w)
    else:
        size = float(draws.crop_size[i])
        bh, bw = max(size * ch, h), max(size * cw, w)
        box = (float(draws.crop_y[i]) * (ch - bh), float(draws.crop_x[i]) * (cw - bw), bh, bw)
        start = crop_start(t, ct, float(draws.phase[i]) if in_time else -1.0,
                           int(draws.part[i]))
    scale = np.array([w / box[3], h / box[2]])
    return frame_table(ct, start, t), crop_table((ch, cw), (h, w), box), scale


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


def _crop_range(value):
    if value is None:
        return None
    pair = ()
    try:
        pair = tuple(real(v, "crop") for v in value)
    except (TypeError, ValueError):
        pass
    if len(pair) != 2 or not 0 < pair[0] <= pair[1] <= 1:
        raise ValueError(f"crop must be a range (lo, hi) of fractions of the canvas's side with "
                         f"0 < lo <= hi <= 1, got {value!r}")
    return pair


def _uniform(pair, u):
    return np.zeros_like(u) if pair is None else pair[0] + u * (pair[1] - pair[0])


def _log_uniform(pair, u):
    return np.ones_like(u) if pair is None else np.exp(_uniform((math.log(pair[0]),
                                                                 math.log(pair[1])), u))
