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

import numbers
from typing import Sequence

import numpy as np

from ._xp import array_device, namespace
from .feature_matching import _FeatureMatch, feature_match, feature_terms, resolve_codes
from .names import closest_names
from .objective_tree import (Context, Linear, Objective, _PerItem, _Zero, per_item,
                             split_scale_free, value_and_cotangent)

__all__ = ["Context", "Objective", "channel", "neuron", "class_logit", "per_item",
           "feature_match", "resolve_classes", "resolve_codes", "split_scale_free",
           "feature_terms", "value_and_cotangent"]

# the names this module had before the tree (objective_tree) and feature matching
# (feature_matching) moved out, importable from here as before
_MOVED = (Linear, _PerItem, _Zero, _FeatureMatch)


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
    unit_channel = property(lambda self: self.c)

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
    unit_channel = property(lambda self: self.c)

    def __init__(self, c, location, normalize, name="neuron", label=None):
        self.c, self.normalize, self.name = _index(c, "channel"), bool(normalize), name
        self.label = label
        self.location = None if location is None else tuple(
            _index(i, "location index") for i in location
        )

    def _where(self, acts):
        spatial = tuple(acts.shape[1:-1])
        loc = self.location if self.location is not None else tuple(d // 2 for d in spatial)
        if self.name == "class_logit" and spatial and loc == ():
            raise ValueError(f"class_logit needs a class layer (one value per class, activations "
                             f"(N, K)); this layer is not one: its activations are "
                             f"{tuple(acts.shape)}, (N, ..., K). Use channel= for a hidden layer")
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
    return objective.map_leaves(lambda o: _resolved_class(o, labels))


def _resolved_class(leaf, labels):
    if not isinstance(leaf, _NamedClass):
        return leaf  # feature_match: no class names (resolve_codes encodes its clip)
    if not labels:
        raise ValueError(f"{leaf.describe()} names a class, but the model has no class "
                         "names (set model.stviz_labels, or give the class index)")
    return leaf.resolve(labels)
