"""Models named by a string (the CLI's and a sweep's MODEL), and a fingerprint of their weights.

A model spec is ``module:function`` (imported and called with no arguments;
a non-callable attribute is used as it is) or a saved model file: ``.keras``
(Keras 3) or ``.pt``/``.pth`` (a pickled ``torch.nn.Module``, loaded with
``weights_only=False``: only open files you trust).
"""

from __future__ import annotations

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
        raise ValueError(f"a model is 'module:function' or a model file, got {spec!r}")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot import {spec}: {exc}") from None
    return factory() if callable(factory) else factory


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
