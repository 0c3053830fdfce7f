"""Adam on the input and learning-rate schedules, as pure functions of explicit state.

In the style of optax: ``opt = adam(learning_rate=...)``, ``state = opt.init(params)``,
``updates, state = opt.update(grads, state, step)``, ``params = apply_updates(params, updates)``.
``params`` and ``grads`` are dicts mapping input names to arrays. Updates descend
the loss; the ascent loop hands Adam the gradient of the negated objective.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, Mapping, NamedTuple

from ._checks import choice, non_negative, positive
from ._xp import namespace
from .regularizers import channel_dot

__all__ = [
    "AdamState",
    "Optimizer",
    "adam",
    "apply_updates",
    "Constant",
    "Exponential",
    "Piecewise",
    "schedule_from_dict",
]

MOMENTS = ("pixel", "coordinate", "item")


class AdamState(NamedTuple):
    """Adam's state: step count and the first and second moment per input."""

    count: int
    mu: Mapping
    nu: Mapping


class Optimizer(NamedTuple):
    """A pair of pure functions plus the settings that made them."""

    init: Callable
    update: Callable
    config: dict


def adam(*, learning_rate=1.0, b1=0.9, b2=0.999, eps=1e-8, moment="pixel") -> Optimizer:
    r"""Adam (Kingma and Ba) with an explicit state.

    Parameters
    ----------
    learning_rate : float or callable
        A constant, or a function ``step -> float`` of the 0-based step.
    b1, b2 : float
        Decay rates of the first and second moment, in ``[0, 1)``.
    eps : float
        Added to the root of the second moment.
    moment : {"pixel", "coordinate", "item"}
        ``"coordinate"`` is textbook Adam: one second moment per array entry.
        ``"pixel"`` (default) shares the second moment over the channel axis
        (the last axis) of each pixel: :math:`v \leftarrow b_2 v + (1-b_2)\,
        \mathrm{mean}_d\, g_d^2`. The step then points along the pixel's
        gradient vector instead of its elementwise sign, so Adam does not favour
        diagonal colour or flow directions; together with the hard bound of
        eq. 2 the projected iteration converges to the constrained maximizer
        (for a linear unit: every pixel at ``B * w / |w|``), which textbook Adam
        does not (it converges to ``B * sign(w) / |sign(w)|``). Both variants
        have the same unconstrained fixed points. With one channel they agree.
        ``"item"`` shares it over everything but the batch axis: one second
        moment per visualization and input, so the step keeps the gradient's
        direction across the whole array (normalized ascent with momentum).
        Spectral parameterizations need that: a moment per coefficient gives
        every frequency the same step and undoes their 1/f^alpha scaling.

    Returns
    -------
    Optimizer
        ``init(params) -> AdamState`` and
        ``update(grads, state, step) -> (updates, AdamState)``.
    """
    for name, value in (("b1", b1), ("b2", b2)):
        if not 0 <= non_negative(value, name) < 1:
            raise ValueError(f"{name} must be in [0, 1), got {value}")
    positive(eps, "eps")
    choice(moment, "Adam moment", MOMENTS)
    rate = learning_rate if callable(learning_rate) else (lambda step: learning_rate)

    def init(params):
        zeros = {k: v * 0 for k, v in params.items()}
        if moment != "coordinate":
            nu = {k: _shared(v, moment) * 0 for k, v in params.items()}
        else:
            nu = dict(zeros)
        return AdamState(0, zeros, nu)

    def update(grads, state, step):
        count = state.count + 1
        lr = float(rate(step))
        mu, nu, updates = {}, {}, {}
        for key, g in grads.items():
            updates[key], mu[key], nu[key] = adam_moments(
                g, state.mu[key], state.nu[key], b1=b1, b2=b2, eps=eps, moment=moment, lr=lr,
                c1=1 - b1**count, c2=1 - b2**count, xp=namespace(g))
        return updates, AdamState(count, mu, nu)

    config = {"name": "adam", "b1": b1, "b2": b2, "eps": eps, "moment": moment}
    return Optimizer(init, update, config)


def adam_moments(g, mu, nu, *, b1, b2, eps, moment, lr, c1, c2, xp):
    """One input's Adam step as a pure function: ``(update, mu, nu)``.

    ``c1``, ``c2`` are the bias corrections ``1 - b1^t``, ``1 - b2^t`` and ``lr`` the step's
    rate (numbers, or 0-d arrays where a compiled step reads them from a device table,
    :mod:`stviz_core.run.fused`); ``moment`` as :func:`adam`'s.
    """
    mu = b1 * mu + (1 - b1) * g
    if moment == "coordinate":
        nu = b2 * nu + (1 - b2) * (g * g)
        return -lr * (mu / c1) / (xp.sqrt(nu / c2) + eps), mu, nu
    nu = b2 * nu + (1 - b2) * _mean_square(g, moment, xp)
    # the shared moment's per-pixel (per-item) factor made first: one broadcast over mu
    return mu * ((-lr / c1) / (xp.sqrt(nu / c2) + eps)), mu, nu


def _mean_square(g, moment, xp):
    """``mean(g^2)`` over a pixel's channels (``"pixel"``) or an item (``"item"``), axes kept."""
    if moment == "item":
        return xp.mean(g * g, axis=tuple(range(1, g.ndim)), keepdims=True)
    return channel_dot(g, g, xp)[..., None] / g.shape[-1]


def _shared(v, moment):
    """The slice of ``v`` shaped like a shared second moment: one entry per pixel or per item."""
    return v[..., :1] if moment == "pixel" else v[(slice(None),) + (slice(0, 1),) * (v.ndim - 1)]


def apply_updates(params, updates):
    """Return ``params + updates`` input by input."""
    return {k: params[k] + updates[k] for k in params}


# -- learning-rate schedules -------------------------------------------------


@dataclass(frozen=True)
class Constant:
    """The same learning rate at every step."""

    value: float

    def __post_init__(self):
        positive(self.value, "learning rate")

    def __call__(self, step: int, steps: int) -> float:
        return self.value

    def to_dict(self) -> dict:
        return {"kind": "constant", **asdict(self)}


@dataclass(frozen=True)
class Exponential:
    """Geometric decay from ``start`` at step 0 to ``end`` at the last step."""

    start: float
    end: float

    def __post_init__(self):
        positive(self.start, "start")
        positive(self.end, "end")
        if self.end > self.start:
            raise ValueError(
                f"a decreasing schedule needs end <= start, got start={self.start}, end={self.end}"
            )

    def __call__(self, step: int, steps: int) -> float:
        if steps <= 1:
            return self.start
        fraction = step / (steps - 1)
        return self.start * math.exp(fraction * math.log(self.end / self.start))

    def to_dict(self) -> dict:
        return {"kind": "exponential", **asdict(self)}


@dataclass(frozen=True)
class Piecewise:
    """Piecewise-constant rate: ``values[i]`` until step ``boundaries[i]``.

    ``boundaries`` are fractions of the run in ``(0, 1)``, so the same schedule
    fits any step count; ``values`` has one entry more than ``boundaries``.
    """

    values: tuple
    boundaries: tuple

    def __post_init__(self):
        object.__setattr__(self, "values", tuple(float(v) for v in self.values))
        object.__setattr__(self, "boundaries", tuple(float(b) for b in self.boundaries))
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError("Piecewise needs len(values) == len(boundaries) + 1")
        for v in self.values:
            positive(v, "learning rate")
        if list(self.boundaries) != sorted(self.boundaries) or any(
            not 0 < b < 1 for b in self.boundaries
        ):
            raise ValueError(f"boundaries must increase inside (0, 1), got {self.boundaries}")

    def __call__(self, step: int, steps: int) -> float:
        fraction = step / max(steps, 1)
        for value, boundary in zip(self.values, self.boundaries):
            if fraction < boundary:
                return value
        return self.values[-1]

    def to_dict(self) -> dict:
        return {"kind": "piecewise", "values": list(self.values),
                "boundaries": list(self.boundaries)}


_SCHEDULES = {"constant": Constant, "exponential": Exponential, "piecewise": Piecewise}


def schedule_from_dict(data: Mapping):
    """Rebuild a schedule from its ``to_dict()`` form."""
    data = dict(data)
    kind = choice(data.pop("kind", None), "schedule kind", tuple(_SCHEDULES))
    return _SCHEDULES[kind](**data)
