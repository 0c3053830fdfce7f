"""Argument validation with messages that name the problem and the valid choices."""

from __future__ import annotations

import math
import numbers

LAYOUT = "(N, T, H, W, C)"


def check_canonical(x, xp, *, name: str = "x") -> None:
    """Raise unless ``x`` is a real floating array in the canonical layout."""
    shape = tuple(getattr(x, "shape", ()))
    if len(shape) != 5:
        raise ValueError(
            f"{name} must be in the canonical layout {LAYOUT} "
            f"(batch, frames, height, width, channels); got shape {shape} "
            f"(rank {len(shape)})"
        )
    if any(d == 0 for d in shape):
        raise ValueError(f"{name} has an empty axis: shape {shape} in layout {LAYOUT}")
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"{name} must have a real floating dtype, got {x.dtype}")


def check_finite(x, xp, *, name: str = "x") -> None:
    """Raise if ``x`` holds NaN or infinity."""
    if not bool(xp.all(xp.isfinite(x))):
        bad = int(xp.sum(xp.astype(~xp.isfinite(x), xp.int64)))
        raise ValueError(f"{name} holds {bad} non-finite value(s) (NaN or inf)")


def real(value, name: str) -> float:
    """Return ``value`` as a finite float or raise a ``TypeError``/``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    return value


def non_negative(value, name: str) -> float:
    value = real(value, name)
    if value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")
    return value


def positive(value, name: str) -> float:
    value = real(value, name)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, got {value}")
    return value


def positive_int(value, name: str) -> int:
    """``value`` as an int >= 1, or a ``TypeError``/``ValueError`` naming ``name``."""
    return _integer(value, name, 1)


def non_negative_int(value, name: str) -> int:
    """``value`` as an int >= 0, or a ``TypeError``/``ValueError`` naming ``name``."""
    return _integer(value, name, 0)


def _integer(value, name, least):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {least}, got {value!r}")
    if value < least:
        raise ValueError(f"{name} must be an integer >= {least}, got {value}")
    return int(value)


def choice(value, name: str, valid) -> str:
    """Raise a ``ValueError`` listing ``valid`` unless ``value`` is one of them."""
    if value not in valid:
        raise ValueError(
            f"unknown {name} {value!r}; valid choices: {', '.join(map(repr, valid))}"
        )
    return value
