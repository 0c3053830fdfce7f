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
"""

from __future__ import annotations

from typing import Mapping

from .._checks import choice
from .base import Field, Parameterization
from .fourier import Fourier
from .maco import Maco
from .pixel import Pixel

__all__ = ["Parameterization", "Field", "Pixel", "Fourier", "Maco", "names", "get", "from_dict",
           "resolve"]

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
