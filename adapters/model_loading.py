"""Models named by a string (the CLI's and a sweep's MODEL), and a fingerprint of their weights.

A model spec is ``module:function`` (imported and called with no arguments;
a non-callable attribute is used as it is), ``module:function(key=value, ...)``
(called with those keyword arguments, Python literals only, e.g.
``stviz_adapters.families_torch:i3d(width=0.25, frames=16)``) or a saved model file: ``.keras``
(Keras 3) or ``.pt``/``.pth`` (a pickled ``torch.nn.Module``, loaded with
``weights_only=False``: only open files you trust).
"""

from __future__ import annotations

import ast
import hashlib
import importlib
from pathlib import Path

import numpy as np

__all__ = ["load_model", "fingerprint", "framework_of"]


def load_model(spec: str):
    """The model that ``spec`` names; a ``ValueError`` says what is wrong with a bad one."""
    spec = str(spec)
    path = Path(spec)
    if path.suffix in (".keras", ".pt", ".pth") or path.exists():
        if not path.is_file():
            raise ValueError(f"no model file {spec}")
        try:
            if path.suffix == ".keras":
                import keras

                return keras.saving.load_model(path)
            import torch

            model = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as exc:
            raise ValueError(f"cannot read model file {spec}: {exc}") from None
        if not hasattr(model, "named_modules"):
            raise ValueError(f"{spec} holds a {type(model).__name__}, not a model "
                             "(save the whole module, not its state_dict)")
        return model
    module_name, _, attr = spec.partition(":")
    if not attr:
        raise ValueError(f"a model is 'module:function', 'module:function(key=value, ...)' or a "
                         f"model file, got {spec!r}")
    attr, kwargs = _call(attr, spec)
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import {spec}: {exc}") from None
    if not callable(factory):
        if kwargs:
            raise ValueError(f"{module_name}:{attr} is not callable; it takes no arguments")
        return factory
    try:
        return factory(**kwargs)
    except TypeError as exc:
        raise ValueError(f"cannot call {spec}: {exc}") from None


def _call(text, spec):
    """``("name", {kwargs})`` from ``name`` or ``name(key=literal, ...)``."""
    if "(" not in text:
        return text, {}
    try:
        call = ast.parse(text, mode="eval").body
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name) or call.args:
            raise ValueError
        return call.func.id, {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
    except (SyntaxError, ValueError):
        raise ValueError(f"{spec!r}: arguments must be keyword=literal pairs, e.g. "
                         "module:function(width=0.25, input_size=112)") from None


def framework_of(model) -> str:
    """``"torch"`` or ``"keras"``, from the model's class."""
    for klass in type(model).__mro__:
        root = klass.__module__.split(".")[0]
        if root in ("torch", "keras", "tf_keras"):
            return "torch" if root == "torch" else "keras"
    raise ValueError(f"{type(model).__name__} is neither a torch.nn.Module nor a Keras model")


def fingerprint(model) -> str:
    """SHA-256 over the names, dtypes, shapes and values of the model's weights.

    Two models with equal weights under equal names have equal fingerprints,
    whatever their Python identity; one changed value changes it.
    """
    digest = hashlib.sha256()
    if framework_of(model) == "torch":
        items = ((name, t.detach().cpu().numpy()) for name, t in model.state_dict().items())
    else:
        items = ((getattr(w, "path", w.name), np.asarray(w.numpy())) for w in model.weights)
    for name, value in items:
        value = np.ascontiguousarray(value)
        digest.update(f"{name}|{value.dtype.str}|{value.shape}|".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()
