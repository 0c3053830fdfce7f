"""The model contract: what a model may carry to tell stviz how to use it.

A model of any framework may carry these attributes (``docs/architecture.md``,
"Plugins and the backend contract"); :class:`ModelContract` declares them, and
this is the one place that names them:

=====================  ==========================================================
attribute              meaning
=====================  ==========================================================
``stviz_layout``       a :class:`stviz_core.layouts.Layout`: how canonical inputs
                       ``(N, T, H, W, C)`` become the model's arguments
``stviz_inputs``       ``{name: (T, H, W, C)}`` (or ``InputSpec``, or ``(shape, role)``)
                       per visualization, in the layout's names
``stviz_labels``       the class names in logit order (``class_logit("name")``)
``stviz_preprocess``   ``preprocess(frames, (H, W)) -> (T, H, W, 3)``: video frames
                       (uint8 RGB) to the model's clip input
``stviz_flatten``      ``{layer: (C, T, H, W)}``: the feature-map shape a fully
                       connected layer flattens (weight porting between frameworks)
=====================  ==========================================================

:func:`declare` sets them on a model (checked, with one-line errors) and
:func:`contract_of` reads them back as a :class:`ModelContract`. The attributes
stay plain attributes of the model, so models saved or pickled with them and
code that sets ``model.stviz_layout = ...`` by hand keep working.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, fields
from typing import Any, Callable, Mapping

from .backend import input_specs

__all__ = ["ModelContract", "declare", "contract_of", "ATTRIBUTE_PREFIX"]

#: a contract field ``f`` is the model attribute ``ATTRIBUTE_PREFIX + f`` (``stviz_layout``, ...)
ATTRIBUTE_PREFIX = "stviz_"


@dataclass(frozen=True)
class ModelContract:
    """The attributes a model declares (None: not declared).

    Parameters
    ----------
    layout : stviz_core.layouts.Layout, optional
        How canonical inputs become the model's positional arguments.
    inputs : mapping, optional
        ``{name: (T, H, W, C) | InputSpec | ((T, H, W, C), role)}`` per visualization.
    labels : tuple of str, optional
        The model's class names in logit order.
    preprocess : callable, optional
        ``preprocess(frames, (H, W)) -> (T, H, W, 3)`` float array: video frames
        (``(T', H', W', 3)`` uint8 RGB) to the model's clip input.
    flatten : mapping, optional
        ``{layer: (C, T, H, W)}``: the shape a fully connected layer flattens.

    Raises
    ------
    TypeError, ValueError
        For a value of the wrong kind, with the field named.
    """

    layout: Any = None
    inputs: Mapping | None = None
    labels: tuple | None = None
    preprocess: Callable | None = None
    flatten: Mapping | None = None

    def __post_init__(self):
        for field in fields(self):
            value = getattr(self, field.name)
            object.__setattr__(self, field.name, _checked(field.name, value, field.name))

    def declared(self) -> dict:
        """``{field: value}`` of the declared fields (the keywords of :func:`declare`)."""
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) is not None}

    def input_specs(self) -> dict:
        """``{name: InputSpec}`` of :attr:`inputs` (roles from the layout when there is one).

        Raises
        ------
        ValueError
            When no inputs are declared, or they do not fit the layout.
        """
        if not self.inputs:
            raise ValueError("the model declares no inputs (model.stviz_inputs): give "
                             "inputs={name: (T, H, W, C)}")
        return self.layout.specs(self.inputs) if self.layout is not None else input_specs(self.inputs)


def attribute(field: str) -> str:
    """The model attribute of contract field ``field`` (``"layout"`` -> ``"stviz_layout"``)."""
    return ATTRIBUTE_PREFIX + field


def contract_of(model) -> ModelContract:
    """The :class:`ModelContract` that ``model`` carries (its ``stviz_*`` attributes).

    Attributes set by hand (``model.stviz_layout = Clip3D()``) count as declared.

    Raises
    ------
    TypeError, ValueError
        When an attribute holds a value of the wrong kind (the attribute named).
    """
    values = {}
    for field in fields(ModelContract):
        name = attribute(field.name)
        values[field.name] = _checked(field.name, getattr(model, name, None), f"model.{name}")
    return ModelContract(**values)


def declare(model, *, layout=None, inputs=None, labels=None, preprocess=None, flatten=None):
    """Declare ``model``'s contract: set the given fields as its ``stviz_*`` attributes.

    Parameters
    ----------
    model : object
        A model of any framework (any object that takes attributes).
    layout, inputs, labels, preprocess, flatten : optional
        The fields of :class:`ModelContract`; None leaves a field as it is.

    Returns
    -------
    object
        ``model`` itself.

    Raises
    ------
    TypeError, ValueError
        For a value of the wrong kind, or inputs that do not fit the layout (the
        model is then left unchanged).
    """
    given = {"layout": layout, "inputs": inputs, "labels": labels, "preprocess": preprocess,
             "flatten": flatten}
    given = {k: _checked(k, v, k) for k, v in given.items() if v is not None}
    merged = ModelContract(**{**contract_of(model).declared(), **given})
    if merged.layout is not None and merged.inputs:
        merged.input_specs()  # inputs that do not fit the layout raise here
    for name, value in given.items():
        try:
            setattr(model, attribute(name), value)
        except (AttributeError, TypeError) as exc:
            raise TypeError(f"cannot declare {name} on a {type(model).__name__}: {exc}") from None
    return model


def _checked(field: str, value, where: str):
    """``value`` of contract field ``field`` normalized, or a one-line error naming ``where``."""
    if value is None:
        return None
    return _CHECKS[field](value, where)


def _layout(value, where):
    if not all(hasattr(value, a) for a in ("streams", "names", "specs", "channels_first")):
        raise TypeError(f"{where} must be a stviz_core.layouts.Layout (e.g. Clip3D(), "
                        f"TwoStream2D()), got {type(value).__name__}")
    return value


def _inputs(value, where):
    if not isinstance(value, Mapping):
        raise TypeError(f"{where} must be a mapping {{name: (T, H, W, C)}}, got "
                        f"{type(value).__name__}")
    try:
        input_specs(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where}: {exc}") from None
    return dict(value)


def _labels(value, where):
    if isinstance(value, (str, bytes, Mapping)) or not hasattr(value, "__iter__"):
        raise TypeError(f"{where} must be a sequence of class names, got {type(value).__name__}")
    return tuple(str(label) for label in value)


def _preprocess(value, where):
    if not callable(value):
        raise TypeError(f"{where} must be a function preprocess(frames, (H, W)) -> clip, got "
                        f"{type(value).__name__}")
    return value


def _flatten(value, where):
    if not isinstance(value, Mapping):
        raise TypeError(f"{where} must be a mapping {{layer: (C, T, H, W)}}, got "
                        f"{type(value).__name__}")
    out = {}
    for layer, shape in value.items():
        if (not hasattr(shape, "__len__") or len(shape) != 4
                or not all(isinstance(d, numbers.Integral) and d >= 1 for d in shape)):
            raise ValueError(f"{where}[{layer!r}] must be (C, T, H, W) with every size >= 1, "
                             f"got {shape!r}")
        out[str(layer)] = tuple(int(d) for d in shape)
    return out


_CHECKS = {"layout": _layout, "inputs": _inputs, "labels": _labels, "preprocess": _preprocess,
           "flatten": _flatten}
