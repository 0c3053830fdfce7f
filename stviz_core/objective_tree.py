"""The objective tree: the base :class:`Objective`, its algebra and its walks.

An objective is a leaf (a unit: :func:`stviz_core.objectives.channel`,
``neuron``, ``class_logit``; a feature-matching term,
:mod:`stviz_core.feature_matching`) or a node that combines others: a weighted
sum (:class:`Linear`, built by ``+``, ``-`` and ``*``) or a batch with one
objective per visualization (:func:`per_item`). Every walk over the tree goes
through the tree's own API, so no caller reads a node's internals:

:meth:`~Objective.children` and :meth:`~Objective.rebuild` (a node's parts, the
node made again), and on them :meth:`~Objective.walk`, :meth:`~Objective.leaves`,
:meth:`~Objective.map_leaves` (class names resolved, clips encoded),
:meth:`~Objective.partition` (:func:`split_scale_free`) and
:meth:`~Objective.per_visualization`. :class:`Context` holds eq. 1's constants.
"""

from __future__ import annotations

import abc
import numbers
from dataclasses import dataclass
from typing import Callable, Iterator, Optional, Sequence

from ._checks import real
from ._xp import array_device, namespace, per_item_sum

__all__ = ["Context", "Objective", "Linear", "per_item", "split_scale_free",
           "value_and_cotangent"]


@dataclass(frozen=True)
class Context:
    """Run-time constants of eq. 1's normalization.

    Attributes
    ----------
    rho : float
        Receptive-field size (side length, in input pixels) of the target layer.
    a_hat : sequence of float, optional
        Per-channel maximum activation on a validation set; ``None`` means 1.
    """

    rho: float = 1.0
    a_hat: Optional[Sequence[float]] = None

    def __post_init__(self):
        if self.a_hat is not None:
            Context.check_a_hat(self.a_hat)

    @staticmethod
    def check_a_hat(a_hat) -> list:
        """``a_hat`` as a list of floats, or an error naming the first entry outside ``(0, inf)``.

        Raises
        ------
        TypeError
            ``a_hat`` is not a sequence of numbers.
        ValueError
            ``a_hat`` is empty, or an entry is NaN, infinite, zero or negative.
        """
        if isinstance(a_hat, (str, bytes)) or getattr(a_hat, "ndim", 1) != 1:
            raise TypeError(f"a_hat must be a sequence of numbers, one per channel of the layer, "
                            f"got {type(a_hat).__name__} of shape {getattr(a_hat, 'shape', ())}"
                            if hasattr(a_hat, "ndim") else
                            f"a_hat must be a sequence of numbers, one per channel, got {a_hat!r}")
        try:
            entries = list(a_hat)
        except TypeError:
            raise TypeError(f"a_hat must be a sequence of numbers, one per channel of the layer, "
                            f"got {type(a_hat).__name__}") from None
        if not entries:
            raise ValueError("a_hat is empty: give one value per channel of the layer, or None")
        values, bad = [], []
        for c, v in enumerate(entries):
            if isinstance(v, bool) or not isinstance(v, numbers.Real):
                raise TypeError(f"a_hat[{c}] must be a number, got {v!r}")
            values.append(float(v))
            if not (values[-1] > 0 and values[-1] < float("inf")):
                bad.append(c)
        if bad:
            c = bad[0]
            more = f" ({len(bad)} entries outside it: {bad[:5]}{' ...' if len(bad) > 5 else ''})"
            raise ValueError(
                f"a_hat[{c}] must be > 0 and finite (domain 0 < a_hat[c] < inf), got {values[c]}"
                f"{more if len(bad) > 1 else ''}: a_hat is each channel's maximum activation on "
                "recorded data; replace channels that never activated positively by 1 "
                "(stviz_adapters.activity.Activity.normalizer()), or pass a_hat=None")
        return values

    def scale(self, c: int) -> float:
        if self.a_hat is not None and c >= len(self.a_hat):
            raise ValueError(
                f"a_hat has {len(self.a_hat)} entries, so channel {c} has no maximum "
                "activation; give one value per channel of the layer"
            )
        a = 1.0 if self.a_hat is None else float(self.a_hat[c])
        if not a > 0:
            raise ValueError(
                f"a_hat[{c}] must be > 0 to normalize by it, got {a}: the channel never "
                "activated positively on the recorded data; pass a_hat=None, or replace such "
                "entries by 1 (stviz_adapters.activity.Activity.normalizer())"
            )
        return 1.0 / (self.rho**2 * a)


class Objective(abc.ABC):
    """Abstract base: a function of the activations with a known cotangent.

    Subclasses implement :meth:`value`, :meth:`cotangent` and :meth:`describe`;
    the operators ``+``, ``-``, unary ``-``, ``*`` and ``/`` by a number build
    new objectives.
    """

    @abc.abstractmethod
    def value(self, acts, ctx: Context = Context()):
        """Objective per visualization, shape ``(N,)``."""

    @abc.abstractmethod
    def cotangent(self, acts, ctx: Context = Context()):
        """``d value / d acts``, the shape of ``acts``."""

    @abc.abstractmethod
    def describe(self) -> str:
        """A readable formula, recorded in a result's config."""

    def __repr__(self):
        return self.describe()

    #: whether :meth:`cotangent` does not depend on the activations' values (a linear objective):
    #: then ``value(A) = <A, cotangent>`` per visualization (:func:`value_and_cotangent`)
    linear = False
    #: whether the term is already normalized and never takes the automatic unit scale
    #: (:func:`split_scale_free`)
    scale_free = False

    def value_and_cotangent(self, acts, ctx: Context = Context()):
        """:meth:`value` and :meth:`cotangent` together (a subclass may share their work)."""
        return self.value(acts, ctx), self.cotangent(acts, ctx)

    def __getstate__(self):  # cached cotangents are device arrays, not part of the objective
        return {k: v for k, v in self.__dict__.items() if k != "_cotangents"}

    # the tree
    def children(self) -> tuple:
        """The objectives this one combines (a sum's terms, a batch's items); ``()`` for a leaf."""
        return ()

    def rebuild(self, children) -> "Objective":
        """This node with :meth:`children` replaced by ``children`` (same order); a leaf is itself."""
        return self

    def walk(self) -> Iterator["Objective"]:
        """This objective and every one below it, depth first, in order."""
        yield self
        for child in self.children():
            yield from child.walk()

    def leaves(self) -> Iterator["Objective"]:
        """The leaves of the tree, in order (units, feature-matching terms)."""
        return (o for o in self.walk() if not o.children())

    def map_leaves(self, change: Callable[["Objective"], "Objective"]) -> "Objective":
        """The tree with each leaf replaced by ``change(leaf)``; this very object (and its cached
        cotangents) when every leaf comes back unchanged."""
        children = self.children()
        if not children:
            return change(self)
        changed = [child.map_leaves(change) for child in children]
        if all(new is old for new, old in zip(changed, children)):
            return self
        return self.rebuild(changed)

    def partition(self, belongs: Callable[["Objective"], bool]) -> tuple:
        """``(rest, part)``: the leaves for which ``belongs(leaf)``, and the others, each as a tree
        of this shape (``None`` when empty; a batch fills an empty visualization with zero).
        ``rest + part`` is this objective, value and cotangent."""
        return (None, self) if belongs(self) else (self, None)

    def per_visualization(self, batch: int) -> list:
        """Each visualization's objective: a batch's items, else this objective ``batch`` times."""
        return [self] * batch

    #: the channel a unit leaf reads (``channel``, ``neuron``, ``class_logit``); ``None`` otherwise
    unit_channel: Optional[int] = None

    # algebra
    def _terms(self):
        return [(1.0, self)]

    def __add__(self, other):
        if isinstance(other, numbers.Number) and other == 0:
            return self  # lets sum() start from 0
        if not isinstance(other, Objective):
            return NotImplemented
        return Linear(self._terms() + other._terms())

    __radd__ = __add__

    def __neg__(self):
        return self * -1.0

    def __sub__(self, other):
        if not isinstance(other, Objective):
            return NotImplemented
        return self + (-other)

    def __mul__(self, factor):
        if isinstance(factor, bool) or not isinstance(factor, numbers.Real):
            return NotImplemented
        factor = real(factor, "objective weight")
        return Linear([(w * factor, o) for w, o in self._terms()])

    __rmul__ = __mul__

    def __truediv__(self, divisor):
        if isinstance(divisor, bool) or not isinstance(divisor, numbers.Real):
            return NotImplemented
        if divisor == 0:
            raise ZeroDivisionError("objective divided by zero")
        return self * (1.0 / divisor)


class Linear(Objective):
    """A weighted sum of objectives."""

    def __init__(self, terms):
        self.terms = list(terms)

    @property
    def linear(self):
        return all(o.linear for _, o in self.terms)

    def _terms(self):
        return list(self.terms)

    def children(self):
        return tuple(o for _, o in self.terms)

    def rebuild(self, children):
        return Linear([(w, o) for (w, _), o in zip(self.terms, children, strict=True)])

    def partition(self, belongs):
        rest, part = [], []
        for w, o in self.terms:
            r, p = o.partition(belongs)
            rest += [] if r is None else [(w, r)]
            part += [] if p is None else [(w, p)]
        if not part:
            return self, None
        return (Linear(rest) if rest else None), Linear(part)

    def value(self, acts, ctx=Context()):
        return sum(w * o.value(acts, ctx) for w, o in self.terms)

    def cotangent(self, acts, ctx=Context()):
        return sum(w * o.cotangent(acts, ctx) for w, o in self.terms)

    def value_and_cotangent(self, acts, ctx=Context()):
        value = cot = None
        for w, o in self.terms:
            v, c = value_and_cotangent(o, acts, ctx)
            value = w * v if value is None else value + w * v
            cot = w * c if cot is None else cot + w * c
        return value, cot

    def describe(self):
        parts = []
        for w, o in self.terms:
            sign = "-" if w < 0 else "+"
            coef = "" if abs(w) == 1 else f"{abs(w):g} * "
            parts.append(f"{sign} {coef}{o.describe()}")
        text = " ".join(parts)
        return text[2:] if text.startswith("+ ") else "-" + text[2:]


class _PerItem(Objective):
    """Objective ``n`` applied to visualization ``n`` of the batch."""

    def __init__(self, objectives):
        self.objectives = list(objectives)

    def _check(self, acts):
        if acts.shape[0] != len(self.objectives):
            raise ValueError(
                f"{len(self.objectives)} objectives for a batch of {acts.shape[0]}"
            )

    @property
    def linear(self):
        return all(o.linear for o in self.objectives)

    def value(self, acts, ctx=Context()):
        xp = namespace(acts)
        self._check(acts)
        return xp.concat(
            [o.value(acts[n : n + 1, ...], ctx) for n, o in enumerate(self.objectives)]
        )

    def cotangent(self, acts, ctx=Context()):
        xp = namespace(acts)
        self._check(acts)
        return xp.concat(
            [o.cotangent(acts[n : n + 1, ...], ctx) for n, o in enumerate(self.objectives)],
            axis=0,
        )

    def value_and_cotangent(self, acts, ctx=Context()):
        xp = namespace(acts)
        self._check(acts)
        both = [value_and_cotangent(o, acts[n : n + 1, ...], ctx)
                for n, o in enumerate(self.objectives)]
        return xp.concat([v for v, _ in both]), xp.concat([c for _, c in both], axis=0)

    def children(self):
        return tuple(self.objectives)

    def rebuild(self, children):
        return _PerItem(children)

    def partition(self, belongs):
        parts = [o.partition(belongs) for o in self.objectives]
        if all(p is None for _, p in parts):
            return self, None
        rest = None if all(r is None for r, _ in parts) else _PerItem(
            [_Zero() if r is None else r for r, _ in parts])
        return rest, _PerItem([_Zero() if p is None else p for _, p in parts])

    def per_visualization(self, batch):
        return list(self.objectives)

    def describe(self):
        return "[" + ", ".join(o.describe() for o in self.objectives) + "]"


class _Zero(Objective):
    """The zero objective: a visualization's empty part after :func:`split_scale_free`."""

    linear = True

    def value(self, acts, ctx=Context()):
        xp = namespace(acts)
        return xp.zeros((acts.shape[0],), dtype=acts.dtype, device=array_device(acts))

    def cotangent(self, acts, ctx=Context()):
        return namespace(acts).zeros_like(acts)

    def describe(self):
        return "0"


def value_and_cotangent(objective: Objective, acts, ctx: Context = Context()):
    """``objective.value(acts, ctx)`` and ``objective.cotangent(acts, ctx)`` together.

    A linear objective's cotangent does not depend on the activations: it is
    built once per activation shape, dtype, device and context, kept on the
    objective, and the value is ``<A, cotangent>`` per visualization. An ascent
    step then costs one product and one sum for the objective, whatever the
    batch size and however many per-visualization objectives it holds.

    Returns
    -------
    value : array
        Shape ``(N,)``.
    cotangent : array
        The shape of ``acts``.
    """
    if not objective.linear:
        return objective.value_and_cotangent(acts, ctx)
    xp = namespace(acts)
    cache = objective.__dict__.setdefault("_cotangents", {})
    key = (tuple(acts.shape), str(acts.dtype), str(array_device(acts)), id(ctx))
    if key not in cache or cache[key][0] is not ctx:
        if len(cache) >= 4:
            cache.clear()
        cache[key] = (ctx, objective.cotangent(acts, ctx))
    cot = cache[key][1]
    return per_item_sum(acts * cot, xp), cot


def split_scale_free(objective: Objective) -> tuple:
    """``(unit, free)``: the terms that take the automatic unit scale, and the scale-free ones.

    Either is ``None`` when empty. In a per-item batch a visualization with no
    term of a kind gets the zero objective there, so both parts keep the batch.
    ``unit + free`` is ``objective`` (value and cotangent).
    """
    return objective.partition(lambda leaf: leaf.scale_free)


def per_item(objectives) -> Objective:
    """Combine one objective per visualization into a batch objective."""
    objectives = list(objectives)
    if not objectives or not all(isinstance(o, Objective) for o in objectives):
        raise TypeError("per_item needs a non-empty sequence of Objective instances")
    return _PerItem(objectives)
