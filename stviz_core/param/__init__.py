"""Parameterizations of the input: what the ascent optimizes, and how it becomes the input.

One parameterization a module (as Lucid's ``param/``):

========================================  ==========================================
:class:`~stviz_core.param.pixel.Pixel`    the pixels themselves (the paper's; default)
:class:`~stviz_core.param.fourier.Fourier`  a colour-decorrelated space-time spectrum with
                                          1/f^alpha amplitudes
:class:`~stviz_core.param.maco.Maco`      phases only, under a fixed natural spectrum
========================================  ==========================================

Each module has ``init(shape, rng, ...)``, ``to_input(params, /, *, ..., xp=None)``
and ``to_input_vjp(params, cotangent, /, *, ..., xp=None)`` over the array API,
and a settings class whose ``bind`` makes the :class:`~stviz_core.param.base.Field`
the ascent uses (``docs/architecture.md`` sec. 4).

Every parameterization also takes a canvas larger than the clip
(:mod:`~stviz_core.param._canvas`) and an output stage that standardizes and
squashes into the bound (:mod:`~stviz_core.param._output`); :func:`shaped` sets
both, and the crops of the canvas, on a preset's parameterization and transforms.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Mapping

from .._checks import choice
from ..transforms import Transforms
from ._canvas import check_canvas
from .base import SHAPING, Field, Parameterization
from .fourier import Fourier
from .maco import Maco
from .pixel import Pixel

__all__ = ["Parameterization", "Field", "Pixel", "Fourier", "Maco", "names", "get", "from_dict",
           "resolve", "shaped", "takes_shaping", "SHAPING_OPTIONS"]

#: The keyword options of :func:`shaped` (and of the presets ``robust``, ``fourier``, ``maco``).
SHAPING_OPTIONS = ("canvas", "crop", "squash", "standardize", "contrast")

_KINDS = {"pixel": Pixel, "fourier": Fourier, "maco": Maco}


def names() -> tuple:
    """Names :func:`get` accepts."""
    return tuple(_KINDS)


def get(name: str, **options) -> Parameterization:
    """A parameterization by name: ``get("fourier", alpha=1.2)``.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones) or a setting
        outside its domain.
    """
    return _KINDS[choice(name, "parameterization", names())](**options)


def from_dict(data: Mapping) -> Parameterization:
    """Rebuild a parameterization from its ``to_dict()``."""
    options = dict(data)
    return get(options.pop("name", None), **options)


def resolve(value) -> Parameterization:
    """A parameterization from itself, its name or its ``to_dict()``."""
    if isinstance(value, Parameterization):
        return value
    if isinstance(value, str):
        return get(value)
    if isinstance(value, Mapping):
        return from_dict(value)
    raise TypeError(f"a parameterization is one of {', '.join(map(repr, names()))}, "
                    f"a stviz_core.param object or its to_dict(), got {value!r}")


def shaped(parameterization: Parameterization, transforms: Transforms, *, canvas=None, crop=None,
           squash=None, standardize: bool = False, contrast: float = SHAPING["contrast"]):
    """``(parameterization, transforms)`` with a canvas, an output stage and crops of the canvas.

    Parameters
    ----------
    parameterization : Parameterization
    transforms : Transforms
    canvas : float or (float, float), optional
        ``(time, space)`` canvas factors, each in ``[1, 4]`` (:mod:`._canvas`). With a
        canvas the transforms crop it each step: ``crop`` (default: sides from the
        clip's to the canvas's, ``(1 / space, 1)``), and no frame shift where the
        canvas is longer than the clip (the crops move in time instead).
    crop : (float, float), optional
        The crops' side as a fraction of the canvas's, ``0 < lo <= hi <= 1``.
    squash, standardize, contrast
        The output stage (:mod:`._output`): ``squash=True`` is ``"radial"``.

    Returns
    -------
    (Parameterization, Transforms)
        Unchanged (the same objects) when every option is left at its default.
    """
    out = {"squash": squash, "standardize": standardize, "contrast": contrast}
    if any(out[k] != SHAPING[k] for k in out) or canvas is not None:
        parameterization = dataclasses.replace(
            parameterization, **out, canvas=SHAPING["canvas"] if canvas is None else canvas)
    if canvas is not None:
        time, space = check_canvas(canvas)
        changes = {"crop": (1.0 / space, 1.0) if crop is None else crop}
        if time > 1:
            changes["time_shift"] = 0
        transforms = dataclasses.replace(transforms, **changes)
    elif crop is not None:
        transforms = dataclasses.replace(transforms, crop=crop)
    return parameterization, transforms


def takes_shaping(factory):
    """A preset factory that also takes :data:`SHAPING_OPTIONS` (applied by :func:`shaped`).

    With ``standardize=True`` the preset's regularizers are switched off (weight 0), as MaCo
    and Lucid have none: contrast and the bound hold by construction, and at a fixed contrast
    eq. 3's TV could only smooth the unit's pattern away (the automatic objective scale
    matches it to TV's gradient on the rough initial noise). ``replace`` them to have them.
    """
    @functools.wraps(factory)
    def build(*args, **options):
        shaping = {k: options.pop(k) for k in SHAPING_OPTIONS if k in options}
        preset = factory(*args, **options)
        if not shaping:
            return preset
        parameterization, transforms = shaped(preset.parameterization, preset.transforms,
                                              **shaping)
        changes = {}
        if parameterization.output.standardize:
            changes = {role: dataclasses.replace(getattr(preset, role), weight=0.0)
                       for role in ("appearance", "motion")}
        return preset.replace(parameterization=parameterization, transforms=transforms, **changes)
    return build
