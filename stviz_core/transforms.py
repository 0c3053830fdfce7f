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
A run turns them into a few numbers per visualization and step (a :class:`WarpPlan`)
that go to the device once; every step makes its sampling positions there, for the
whole batch at once (docs/architecture.md, sec. 4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Optional

import numpy as np

from . import _warp_rows
from ._checks import non_negative_int, real
from ._xp import array_device, from_numpy
from .crops import check_crop, crop_phases, crop_start
from .resample import (along, hat_matrix, plane_points, reach, sample_plane, sample_plane_adjoint,
                       warp_numbers)

__all__ = ["Transforms", "Draws", "Warp", "WarpPlan", "warp_numbers", "step_warps", "crop_start",
           "crop_phases", "check_crop"]

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

    The numbers are a few per visualization (:func:`warp_numbers`); the sampling
    positions are made from them on the inputs' device at every call
    (:mod:`stviz_core.resample`), batched over the visualizations: time (the crop's
    frames and the retiming) and the crop's box as small matrices of hat weights, the
    plane's scale and rotation as a four-neighbour read (or the backend's ``resample``),
    a flow vector's change as one ``2 x 2`` map. Without the backend's ``resample`` every stage
    runs in pixel rows (:mod:`stviz_core._warp_rows`: numpy's fast path, the same results).

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
    numbers, host : array, optional
        This step's :func:`~stviz_core.resample.warp_numbers` on the device and on the host (a
        :class:`WarpPlan`'s rows); else made from ``draws``, going to the device at the first call.
    resample : callable, optional
        The backend's fused plane read (``backend.resample``); the array-API one if omitted.
    within : int, optional
        The plane warp's reach (:func:`stviz_core.resample.reach`), the run's largest.
    """

    def __init__(self, settings: Transforms, draws: Optional[Draws], shape, role: str,
                 canvas=None, in_time: bool = True, *, numbers=None, host=None, resample=None,
                 within=None):
        t, h, w, c = shape
        self.shape, self.vectors = tuple(shape), role == "motion" and c == 2
        self.canvas = self.shape if canvas is None else tuple(canvas)
        self.host = warp_numbers(settings, draws, self.shape, self.canvas, in_time) \
            if host is None else host
        self.numbers, self.resample, self._pullbacks = numbers, resample, {}
        self.crop = self.canvas != self.shape
        self.timed = self.canvas[0] != t or (settings.temporal and t > 1 and draws is not None)
        self.spatial = settings.spatial and draws is not None
        self.within = reach(self.host[..., 7:11].reshape(-1, 2, 2)) if within is None else within

    @property
    def crops(self) -> list:
        """Per visualization ``(first frame, (top, left, height, width), (sx, sy))`` of its crop,
        ``(sx, sy)`` the scale of a flow vector's ``(u, v)``."""
        _, h, w, _ = self.shape
        return [(int(r[0]), tuple(r[3:7]), (w / r[6], h / r[5])) for r in self.host]

    def _numbers(self, like, xp):
        if self.numbers is None:
            self.numbers = from_numpy(self.host, xp, dtype=like.dtype, device=array_device(like))
        nums, n = self.numbers, like.shape[0]
        return xp.broadcast_to(nums, (n, nums.shape[-1])) if nums.shape[0] != n else nums

    def apply(self, x, xp):
        """The transformed input ``(N, T, H, W, C)`` (of a canvas ``(N, T', H', W', C)``)."""
        nums = self._numbers(x, xp)
        self._pullbacks = {}
        if self.resample is None and (self.crop or self.spatial):
            x = _warp_rows.apply(self, x, nums, xp)  # no fused read: every stage in pixel rows
        else:
            x = self._stages(x, nums, xp)
        return xp.matmul(x, self._vector_map(nums, xp, transpose=True)) if self.vectors else x

    def _stages(self, x, nums, xp):
        """Stage by stage on ``(N, T, H, W, C)`` arrays, each read fused by the backend where it can."""
        if self.timed:
            x = along(x, _warp_rows.time_matrix(self, nums, xp), 1, xp)
        if self.crop:
            fused = self._fused("box", x, _warp_rows.box_grid(self, nums, xp), xp)
            if fused is None:
                rows, cols = self._box(nums, xp)
                fused = along(along(x, rows, 2, xp), cols, 3, xp)
            x = fused
        if self.spatial:
            ax, ay = plane_points(nums[:, 11:15], *self.shape[1:3], xp)
            fused = self._fused("plane", x, (ax, ay), xp)
            x = sample_plane(x, ax, ay, xp) if fused is None else fused
        return x

    def adjoint(self, g, xp):
        """The adjoint of :meth:`apply` (the gradient pulled back through it, canvas-shaped).

        Where :meth:`apply` read through the backend's ``resample``, its pullback; else the
        array-API adjoints."""
        nums = self._numbers(g, xp)
        pullbacks = self._pullbacks
        if self.vectors:
            g = xp.matmul(g, self._vector_map(nums, xp, transpose=False))
        if self.resample is None and (self.crop or self.spatial):
            return _warp_rows.adjoint(self, g, nums, xp)
        if self.spatial:
            g = pullbacks["plane"](g) if "plane" in pullbacks else sample_plane_adjoint(
                g, nums[:, 7:11], nums[:, 11:15], self.shape[1:3], xp, within=self.within)
        if self.crop:
            if "box" in pullbacks:
                g = pullbacks["box"](g)
            else:
                rows, cols = self._box(nums, xp)
                g = along(along(g, rows, 2, xp, adjoint=True), cols, 3, xp, adjoint=True)
        if self.timed:
            g = along(g, _warp_rows.time_matrix(self, nums, xp), 1, xp, adjoint=True)
        return g

    def _fused(self, kind, x, points, xp):
        """The backend's read of ``x`` at ``points`` (its pullback kept for :meth:`adjoint`), or
        None where there is none or it declines."""
        if self.resample is None:
            return None
        done = self.resample(x, xp.stack(points, axis=-1))
        if done is None:
            return None
        self._pullbacks[kind] = done[1]
        return done[0]

    def _box(self, nums, xp):
        """The box's read as ``(rows (N, H, H'), columns (N, W, W'))`` hat matrices."""
        ys, xs = (_warp_rows.box_axis(self, nums, None, axis, xp) for axis in (0, 1))
        return hat_matrix(ys, self.canvas[1], xp), hat_matrix(xs, self.canvas[2], xp)

    def _vector_map(self, nums, xp, *, transpose):
        a = xp.reshape(nums[:, 15:19], (-1, 1, 1, 2, 2))  # (N, 1, 1, 2, 2): u_out = A u
        return xp.permute_dims(a, (0, 1, 2, 4, 3)) if transpose else a


class WarpPlan:
    """Every step's :class:`Warp` of one run's inputs: the numbers go to the device once.

    Parameters
    ----------
    settings : Transforms
    draws : Draws or None
        ``(steps, N)`` numbers of the run; None: the centre crops only.
    specs : mapping
        ``{name: spec}`` (``shape``, ``role``) of the inputs the run moves.
    canvases : mapping
        ``{name: (T', H', W', C)}``: what each input is cropped from.
    xp, dtype, device
        Where the run's arrays live.
    resample : callable, optional
        The backend's ``resample`` member.
    """

    def __init__(self, settings, draws, specs, canvases, *, xp, dtype, device, resample=None):
        in_time = len({spec.shape[0] for spec in specs.values()}) <= 1
        self.settings, self.draws, self.resample = settings, draws, resample
        self.inputs = {}
        for k, spec in specs.items():
            canvas = tuple(canvases[k])
            if draws is None and canvas == tuple(spec.shape):
                continue
            host = warp_numbers(settings, draws, spec.shape, canvas, in_time)
            self.inputs[k] = (spec, canvas, host, from_numpy(host, xp, dtype=dtype, device=device),
                              reach(host[..., 7:11].reshape(-1, 2, 2)))

    def at(self, step: int) -> dict:
        """``{name: Warp}`` of step ``step`` (rows sliced on the device: no transfer)."""
        warps = {}
        for k, (spec, canvas, host, numbers, within) in self.inputs.items():
            row = (host, numbers) if self.draws is None else (host[step], numbers[step, ...])
            warps[k] = Warp(self.settings, None if self.draws is None else self.draws.at(step),
                            spec.shape, spec.role, canvas, host=row[0], numbers=row[1],
                            resample=self.resample, within=within)
        return warps


def step_warps(settings: Transforms, draws: Optional[Draws], specs, x, resample=None) -> dict:
    """This step's :class:`Warp` of each input in ``specs`` (``{name: spec}`` with ``shape`` and
    ``role``) that has transforms or is a canvas (``x[name]`` larger than ``spec.shape``).

    Crops move in time only where the inputs share a frame count: a two-stream net's single
    appearance frame has no time canvas, so its flow stack's crops keep the centre frames.
    (A run builds a :class:`WarpPlan` once instead, so no step copies numbers to the device.)
    """
    in_time = len({spec.shape[0] for spec in specs.values()}) <= 1
    warps = {}
    for k, spec in specs.items():
        canvas = tuple(x[k].shape[1:])
        if draws is not None or canvas != tuple(spec.shape):
            warps[k] = Warp(settings, draws, spec.shape, spec.role, canvas=canvas,
                            in_time=in_time, resample=resample)
    return warps


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
