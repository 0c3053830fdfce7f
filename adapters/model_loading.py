"""Models named by a string (the CLI's and a sweep's MODEL), and a fingerprint of their weights.

A model spec is ``module:function`` (imported and called with no arguments;
a non-callable attribute is used as it is), ``module:function(key=value, ...)``
(called with those keyword arguments, Python literals only, e.g.
``stviz_adapters.zoo.declared_torch:i3d(width=0.25, frames=16)``) or a saved model file: ``.keras``
(Keras 3) or ``.pt``/``.pth`` (a pickled ``torch.nn.Module``, loaded with
``weights_only=False``: only open files you trust); which backend plugin opens
a file is decided by its ``file_suffixes``.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
from pathlib import Path

import numpy as np

from stviz_core.backend import plugins, select_plugin

__all__ = ["load_model", "fingerprint", "framework_of"]


def load_model(spec: str):
    """The model that ``spec`` names; a ``ValueError`` says what is wrong with a bad one."""
    spec = str(spec)
    path = Path(spec)
    suffixes = _file_suffixes()
    if path.suffix in suffixes or path.exists():
        if not path.is_file():
            raise ValueError(f"no model file {spec}")
        if path.suffix not in suffixes:
            raise ValueError(f"{spec}: unknown model file type {path.suffix!r}; the installed "
                             f"backends open {', '.join(sorted(suffixes))}")
        try:
            model = suffixes[path.suffix].load_file(path)
        except Exception as exc:
            raise ValueError(f"cannot read model file {spec}: {exc}") from None
        try:
            select_plugin(model)
        except ValueError:
            raise ValueError(f"{spec} holds a {type(model).__name__}, not a model "
                             "(save the whole module, not its state_dict)") from None
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


def _file_suffixes() -> dict:
    """``{suffix: plugin}`` over the installed backend plugins."""
    out = {}
    for name in sorted(plugins()):
        plugin = select_plugin(None, backend=name)
        for suffix in getattr(plugin, "file_suffixes", ()):
            out.setdefault(suffix, plugin)
    return out


def framework_of(model) -> str:
    """The name of the backend plugin that accepts ``model`` (``"torch"``, ``"keras"``, ...)."""
    return select_plugin(model).name


def fingerprint(model) -> str:
    """SHA-256 over the names, dtypes, shapes and values of the model's weights.

    Two models with equal weights under equal names have equal fingerprints,
    whatever their Python identity; one changed value changes it. The weights
    come from the model's backend plugin (its ``weights`` hook).
    """
    digest = hashlib.sha256()
    for name, value in select_plugin(model).weights(model):
        value = np.ascontiguousarray(value)
        digest.update(f"{name}|{value.dtype.str}|{value.shape}|".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()
