"""Objectives on a layer's activations, with closed-form cotangents.

Activations come in the kernel's layout: batch first, channels last,
``(N, ..., K)`` (``(N, T, H, W, K)`` for a 3D conv layer, ``(N, H, W, K)`` for a
2D one, ``(N, K)`` for a fully connected or class layer). An objective gives one
value per visualization, shape ``(N,)``, and its cotangent ``dObj/dA`` (shape of
the activations), which a backend turns into input gradients with one
vector-Jacobian product. Objectives compose like Lucid's::

    obj = 0.5 * channel(4) - neuron(9)      # value and cotangent both compose

Normalization (eq. 1): with ``normalize=True`` a term is scaled by
``1 / (rho^2 * a_hat[c])``, ``rho`` the receptive-field size of the layer and
``a_hat[c]`` the largest activation of channel ``c`` on a validation set, both
supplied at run time through :class:`Context` (1 where unknown).

Feature matching (:func:`feature_match`, Mahendran and Vedaldi's inversion):
``-||A - A0||^2 / ||A0||^2`` per visualization, ``A0`` a target code of the
same layer; maximizing it minimizes the normalized distance. It is not linear
(its cotangent ``-2 (A - A0) / ||A0||^2`` depends on ``A``) and it is already
scale-free, so it takes neither eq. 1's normalization nor the automatic unit
scale of ``objective_scale="auto"`` (:func:`split_scale_free`): in
``channel(3) + 0.5 * feature_match(code)`` only the channel term is scaled.
"""

from __future__ import annotations

import abc
import hashlib
import numbers
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np

from ._checks import real
from ._xp import array_device, from_numpy, namespace, per_item_sum
from .codes import as_code, encode
from .names import closest_names
from .start import Clip

__all__ = ["Context", "Objective", "channel", "neuron", "class_logit", "per_item",
           "feature_match", "resolve_classes", "resolve_codes", "split_scale_free",
           "feature_terms", "value_and_cotangent"]


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


def _check_channel(acts, c):
    k = acts.shape[-1]
    if not 0 <= c < k:
        raise ValueError(
            f"channel {c} is out of range: the layer has {k} channels (0..{k - 1})"
        )


def _channel_mask(acts, c, xp):
    ks = xp.arange(acts.shape[-1], device=array_device(acts))
    return xp.astype(ks == c, acts.dtype)


class _Channel(Objective):
    linear = True

    def __init__(self, c: int, normalize: bool):
        self.c, self.normalize = _index(c, "channel"), bool(normalize)

    def _scale(self, ctx):
        return ctx.scale(self.c) if self.normalize else 1.0

    def value(self, acts, ctx=Context()):
        xp = namespace(acts)
        _check_channel(acts, self.c)
        per_location = acts[..., self.c]
        if per_location.ndim > 1:
            per_location = xp.sum(per_location, axis=tuple(range(1, per_location.ndim)))
        return self._scale(ctx) * per_location

    def cotangent(self, acts, ctx=Context()):
        xp = namespace(acts)
        _check_channel(acts, self.c)
        return xp.zeros_like(acts) + self._scale(ctx) * _channel_mask(acts, self.c, xp)

    def describe(self):
        return f"channel({self.c}{'' if self.normalize else ', normalize=False'})"


class _Neuron(Objective):
    linear = True

    def __init__(self, c, location, normalize, name="neuron", label=None):
        self.c, self.normalize, self.name = _index(c, "channel"), bool(normalize), name
        self.label = label
        self.location = None if location is None else tuple(
            _index(i, "location index") for i in location
        )

    def _where(self, acts):
        spatial = tuple(acts.shape[1:-1])
        loc = self.location if self.location is not None else tuple(d // 2 for d in spatial)
        if len(loc) != len(spatial) or any(not 0 <= i < d for i, d in zip(loc, spatial)):
            raise ValueError(
                f"location {loc} does not fit the layer's spatial shape {spatial} "
                f"(activations {tuple(acts.shape)}, layout (N, ..., K))"
            )
        return loc

    def _scale(self, ctx):
        return ctx.scale(self.c) if self.normalize else 1.0

    def value(self, acts, ctx=Context()):
        _check_channel(acts, self.c)
        loc = self._where(acts)
        return self._scale(ctx) * acts[(slice(None), *loc, self.c)]

    def cotangent(self, acts, ctx=Context()):
        xp = namespace(acts)
        _check_channel(acts, self.c)
        loc = self._where(acts)
        mask = _channel_mask(acts, self.c, xp)
        rank = acts.ndim
        for axis, i in enumerate(loc, start=1):
            line = xp.astype(
                xp.arange(acts.shape[axis], device=array_device(acts)) == i, acts.dtype
            )
            shape = [1] * rank
            shape[axis] = acts.shape[axis]
            mask = mask * xp.reshape(line, tuple(shape))
        return xp.zeros_like(acts) + self._scale(ctx) * mask

    def describe(self):
        where = "" if self.location is None else f", location={self.location}"
        norm = ", normalize=True" if (self.normalize and self.name == "class_logit") else (
            ", normalize=False" if (not self.normalize and self.name == "neuron") else "")
        unit = self.c if self.label is None else repr(self.label)
        return f"{self.name}({unit}{where}{norm})"


class _NamedClass(Objective):
    """``class_logit("name")`` before :func:`resolve_classes` turns the name into an index."""

    def __init__(self, label: str, normalize: bool):
        self.label, self.normalize = label, bool(normalize)

    def _unresolved(self, *_):
        raise ValueError(
            f"{self.describe()} names a class: resolve it against the model's class names "
            "first, with stviz_core.visualize (which does) or "
            "stviz_core.objectives.resolve_classes(objective, backend.labels)")

    value = cotangent = _unresolved

    def resolve(self, labels):
        labels = list(labels)
        if self.label not in labels:
            close = closest_names(self.label, labels)
            raise ValueError(f"no class {self.label!r}; closest names: {', '.join(close) or 'none'} "
                             f"({len(labels)} classes)")
        return _Neuron(labels.index(self.label), (), self.normalize, name="class_logit",
                       label=self.label)

    def describe(self):
        return f"class_logit({self.label!r}{', normalize=True' if self.normalize else ''})"


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


class _FeatureMatch(Objective):
    """``-||A - A0||^2 / ||A0||^2`` per visualization (module notes); see :func:`feature_match`."""

    scale_free = True

    def __init__(self, target):
        self.clip = target if isinstance(target, Clip) else None
        self.code = None if self.clip is not None else as_code(target)
        if self.code is not None:
            self._set(self.code)

    def _set(self, code):
        acts = code.activations
        if not np.isfinite(acts).all():
            raise ValueError(f"the target code holds {int((~np.isfinite(acts)).sum())} non-finite "
                             "value(s)")
        norms = (acts * acts).reshape(len(acts), -1).sum(axis=1)
        if not (norms > 0).all():
            n = int(np.argmin(norms > 0))
            raise ValueError(f"the target code of clip {n} is all zeros at layer "
                             f"{code.layer or '(unnamed)'}: the normalized distance "
                             "||A - A0||^2 / ||A0||^2 is undefined; choose a layer where the clip "
                             "activates some unit")
        self.code, self.inverse_norms = code, 1.0 / norms
        self.digest = hashlib.sha256(np.ascontiguousarray(acts).tobytes()
                                     + str(acts.shape).encode()).hexdigest()[:8]

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("_cotangents", "_on_device")}

    @property
    def layer(self):
        return None if self.code is None else self.code.layer

    def resolved(self, backend) -> "_FeatureMatch":
        """This objective with its clip encoded by ``backend`` (itself when it has a code)."""
        return self if self.clip is None else _FeatureMatch(encode(backend, self.clip))

    def check_against(self, layer, shape, batch):
        """Refuse a code of another layer or shape than the backend's (``None``: unknown)."""
        if self.code is None:
            raise ValueError(self._unresolved_message())
        if layer is not None and self.code.layer is not None and self.code.layer != layer:
            raise ValueError(f"the target code is from layer {self.code.layer!r}; this run's layer "
                             f"is {layer!r}: encode the clip at {layer!r} (or run at "
                             f"{self.code.layer!r})")
        if shape is not None and tuple(shape) != self.code.shape:
            raise ValueError(self._shape_message(tuple(shape), layer))
        if len(self.code) not in (1, batch):
            raise ValueError(f"the target code holds {len(self.code)} clips' codes for a batch of "
                             f"{batch}: give one code per visualization (seed=[...] one each), or "
                             "one feature_match per visualization with stviz_core.per_item")

    def _shape_message(self, shape, layer=None):
        where = f"layer {layer!r}" if layer else "the layer"
        return (f"the target code is {self.code.shape} per visualization (layer "
                f"{self.code.layer or 'unnamed'}), {where} gives activations of {shape}: a code "
                "of another layer or of another input size")

    def _unresolved_message(self):
        return ("feature_match(clip) is encoded when a run is planned: run it through "
                "stviz_core.ascend or visualize, or encode the clip first "
                "(stviz_core.codes.encode(backend, clip))")

    def _placed(self, acts):
        """The target and ``1/||A0||^2`` in ``acts``' namespace, dtype and device (cached)."""
        if self.code is None:
            raise ValueError(self._unresolved_message())
        if tuple(acts.shape[1:]) != self.code.shape:
            raise ValueError(self._shape_message(tuple(acts.shape[1:])))
        if len(self.code) not in (1, acts.shape[0]):
            raise ValueError(f"the target code holds {len(self.code)} clips' codes for a batch of "
                             f"{acts.shape[0]}")
        xp = namespace(acts)
        key = (str(acts.dtype), str(array_device(acts)), id(xp))
        cache = self.__dict__.setdefault("_on_device", {})
        if key not in cache:
            cache.clear()
            shape = (len(self.code),) + (1,) * (acts.ndim - 1)
            cache[key] = (
                from_numpy(self.code.activations, xp, dtype=acts.dtype, device=array_device(acts)),
                from_numpy(self.inverse_norms, xp, dtype=acts.dtype, device=array_device(acts)),
                from_numpy(np.reshape(self.inverse_norms, shape), xp, dtype=acts.dtype,
                           device=array_device(acts)))
        return cache[key]

    def value(self, acts, ctx=Context()):
        target, inverse, _ = self._placed(acts)
        d = acts - target
        return -per_item_sum(d * d, namespace(acts)) * inverse

    def cotangent(self, acts, ctx=Context()):
        target, _, inverse = self._placed(acts)
        return (-2.0 * inverse) * (acts - target)

    def value_and_cotangent(self, acts, ctx=Context()):
        target, inverse, broadcast = self._placed(acts)
        d = acts - target
        return -per_item_sum(d * d, namespace(acts)) * inverse, (-2.0 * broadcast) * d

    def describe(self):
        if self.code is None:
            return f"feature_match(clip {self.clip.source!r})"
        layer = f", layer={self.code.layer!r}" if self.code.layer else ""
        return f"feature_match(code {self.digest}{layer})"


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


def _index(value, what):
    if isinstance(value, bool) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{what} must be an integer, got {type(value).__name__}")
    if value < 0:
        raise ValueError(f"{what} must be >= 0, got {value}")
    return int(value)


def channel(c: int, *, normalize: bool = True) -> Objective:
    """Channel ``c`` summed over all locations (eq. 1), scaled by ``1/(rho^2 a_hat_c)``."""
    return _Channel(c, normalize)


def neuron(c: int, location=None, *, normalize: bool = True) -> Objective:
    """Channel ``c`` at one location (centre by default: index ``size // 2`` per axis)."""
    return _Neuron(c, location, normalize)


def class_logit(c, *, normalize: bool = False) -> Objective:
    """Logit ``c`` of a class layer with activations ``(N, K)``; unnormalized by default.

    ``c`` is the class index or its name (``class_logit("playing cricket")``);
    a name is looked up in the model's class names (``model.stviz_labels``, a
    backend's ``labels``) when :func:`stviz_core.visualize` runs, or by
    :func:`resolve_classes`.
    """
    if isinstance(c, str):
        return _NamedClass(c, normalize)
    return _Neuron(c, (), normalize, name="class_logit")


def resolve_classes(objective, labels):
    """``objective`` (or a sequence of them) with every class named by a string turned into its index.

    Parameters
    ----------
    objective : Objective or sequence of Objective
    labels : sequence of str or None
        The model's class names in logit order.

    Raises
    ------
    ValueError
        A name that is not a class (the message lists the closest names), or
        a named class when the model has no class names.
    """
    if isinstance(objective, Sequence) and not isinstance(objective, str):
        return [resolve_classes(o, labels) for o in objective]
    if isinstance(objective, _NamedClass):
        if not labels:
            raise ValueError(f"{objective.describe()} names a class, but the model has no class "
                             "names (set model.stviz_labels, or give the class index)")
        return objective.resolve(labels)
    if isinstance(objective, Linear):
        return Linear([(w, resolve_classes(o, labels)) for w, o in objective.terms])
    if isinstance(objective, _PerItem):
        return _PerItem([resolve_classes(o, labels) for o in objective.objectives])
    return objective  # feature_match: no class names (resolve_codes encodes its clip)


def feature_match(target) -> Objective:
    """Match a target code: ``-||A - A0||^2 / ||A0||^2`` per visualization (feature inversion).

    Maximized by the ascent like every objective, so the input moves to make
    the layer's activations ``A`` equal the target ``A0`` (Mahendran and
    Vedaldi's normalized reconstruction error, with the sign flipped). The
    cotangent is ``-2 (A - A0) / ||A0||^2``, in closed form. It composes with
    the other objectives (``channel(3) + 0.5 * feature_match(code)``: feature
    accentuation) and never takes the automatic unit scale (module notes).

    Parameters
    ----------
    target : Code, array or Clip
        A :class:`stviz_core.codes.Code` (from :func:`stviz_core.codes.encode` or
        :meth:`Code.load`, which names its layer), activations ``(N or 1, ..., K)``
        in the backend's layout, or a :class:`stviz_core.Clip` (or its inputs as
        a mapping) to be encoded by the run's backend when the run is planned.
        One code is shared by every visualization; ``N`` codes give one each.

    Raises
    ------
    ValueError
        A code that is all zeros (the distance is undefined) or not finite; at
        planning, a code of another layer or shape than the run's (both named).
    """
    if isinstance(target, Mapping) and not isinstance(target, Clip):
        target = Clip(target)
    return _FeatureMatch(target)


def feature_terms(objective):
    """Every feature-matching term of ``objective`` (sums and per-item batches walked)."""
    stack = [objective]
    while stack:
        o = stack.pop()
        if isinstance(o, _FeatureMatch):
            yield o
        elif isinstance(o, Linear):
            stack.extend(term for _, term in o.terms)
        elif isinstance(o, _PerItem):
            stack.extend(o.objectives)


def resolve_codes(objective, backend):
    """``objective`` with every ``feature_match(clip)`` encoded by ``backend`` (a forward pass each)."""
    if isinstance(objective, _FeatureMatch):
        return objective.resolved(backend)
    if isinstance(objective, Linear):
        if not any(True for _ in feature_terms(objective)):
            return objective
        return Linear([(w, resolve_codes(o, backend)) for w, o in objective.terms])
    if isinstance(objective, _PerItem):
        if not any(True for _ in feature_terms(objective)):
            return objective
        return _PerItem([resolve_codes(o, backend) for o in objective.objectives])
    return objective


def split_scale_free(objective):
    """``(unit, free)``: the terms that take the automatic unit scale, and the scale-free ones.

    Either is ``None`` when empty. In a per-item batch a visualization with no
    term of a kind gets the zero objective there, so both parts keep the batch.
    ``unit + free`` is ``objective`` (value and cotangent).
    """
    if isinstance(objective, Linear):
        units, free = [], []
        for w, o in objective.terms:
            u, f = split_scale_free(o)
            units += [] if u is None else [(w, u)]
            free += [] if f is None else [(w, f)]
        if not free:
            return objective, None
        return (Linear(units) if units else None), Linear(free)
    if isinstance(objective, _PerItem):
        parts = [split_scale_free(o) for o in objective.objectives]
        if all(f is None for _, f in parts):
            return objective, None
        units = None if all(u is None for u, _ in parts) else _PerItem(
            [_Zero() if u is None else u for u, _ in parts])
        return units, _PerItem([_Zero() if f is None else f for _, f in parts])
    if getattr(objective, "scale_free", False):
        return None, objective
    return objective, None


def per_item(objectives) -> Objective:
    """Combine one objective per visualization into a batch objective."""
    objectives = list(objectives)
    if not objectives or not all(isinstance(o, Objective) for o in objectives):
        raise TypeError("per_item needs a non-empty sequence of Objective instances")
    return _PerItem(objectives)
