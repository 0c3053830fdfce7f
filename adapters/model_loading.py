"""Models named by a string (the CLI's and a sweep's MODEL), and a fingerprint of their weights.

A model spec is ``module:function`` (imported and called with no arguments;
a non-callable attribute is used as it is), ``module:function(key=value, ...)``
(called with those keyword arguments: Python literals and arithmetic on
numbers, e.g. ``stviz_adapters.zoo.declared_torch:i3d(width=1/4, frames=16)``)
or a saved model file: ``.keras`` (Keras 3) or ``.pt``/``.pth`` (a pickled
``torch.nn.Module``); which backend plugin opens a file is decided by its
``file_suffixes``.

What runs code, and the guards:

* a pickled ``.pt`` model runs code from the file when it is unpickled; it is
  opened with ``weights_only=True`` unless the caller passes
  ``trust_pickle=True`` (``--trust-pickle`` on the command line);
* a spec calls a function: functions of the standard library and of known
  process, shell and network modules are refused (``REFUSED_MODULES``), and a
  spec that comes from a file someone else may have written (a sweep grid)
  needs ``trust_pickle=True`` too, unless it names a function of stviz itself.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import operator
import sys
from pathlib import Path

import numpy as np

from stviz_core.backend import plugin_hook, plugins, select_plugin

__all__ = ["load_model", "check_spec", "fingerprint", "framework_of", "REFUSED_MODULES"]


#: top-level modules whose functions a model spec may not call (besides the standard library)
REFUSED_MODULES = frozenset({"sh", "pexpect", "plumbum", "invoke", "fabric", "paramiko", "requests",
                             "urllib3", "httpx", "aiohttp", "psutil", "docker", "IPython"})

#: short module names of model sources: ``hf:videomae`` is ``stviz_adapters.zoo.hf_video:videomae``;
#: ``deepmind:two_stream_i3d(rgb='...', flow='...')`` DeepMind's I3D from its two checkpoints
SOURCES = {"hf": "stviz_adapters.zoo.hf_video", "torchvision": "stviz_adapters.zoo.torchvision_video",
           "deepmind": "stviz_adapters.zoo.deepmind_i3d_torch"}


def load_model(spec: str, *, trust_pickle: bool = False, from_file: bool = False, weights=None):
    """The model that ``spec`` names; a ``ValueError`` says what is wrong with a bad one.

    Parameters
    ----------
    spec : str
        ``module:function``, ``module:function(key=value, ...)`` or a model file.
    trust_pickle : bool
        Let a pickled model file run its code when it is loaded, and let a spec
        from a file (``from_file``) call a function outside stviz.
    from_file : bool
        The spec was read from a file (a sweep grid), not typed by the user.
    weights : str or path, optional
        Passed to the spec's function as ``weights=`` (``hf:videomae`` with a
        ``save_pretrained`` folder, ``torchvision:r2plus1d_18`` with a state-dict file).
    """
    spec = str(spec)
    path = Path(spec)
    suffixes = _file_suffixes()
    if path.suffix in suffixes or path.exists():
        if not path.is_file():
            raise ValueError(f"no model file {spec}")
        if weights is not None:
            raise ValueError(f"weights {weights} go with a model named by a spec (hf:videomae, "
                             f"torchvision:r2plus1d_18), not with the model file {spec}")
        if path.suffix not in suffixes:
            raise ValueError(f"{spec}: unknown model file type {path.suffix!r}; the installed "
                             f"backends open {', '.join(sorted(suffixes))}")
        _check_not_empty_or_text(path, spec)
        try:
            model = plugin_hook(suffixes[path.suffix], "load_file")(path, trust_pickle=trust_pickle)
        except Exception as exc:
            if not trust_pickle and "weights_only" in str(exc):
                raise ValueError(
                    f"{spec} is a pickled model: loading it runs code stored in the file. If you "
                    "trust the file, pass --trust-pickle (trust_pickle=True in Python)") from None
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(f"cannot read model file {spec}: {first}") from None
        try:
            select_plugin(model)
        except ValueError:
            raise ValueError(f"{spec} holds a {type(model).__name__}, not a model "
                             "(save the whole module, not its state_dict)") from None
        return model
    module_name, _, attr = spec.partition(":")
    module_name = SOURCES.get(module_name, module_name)
    if not attr:
        raise ValueError(f"a model is 'module:function', 'module:function(key=value, ...)' or a "
                         f"model file, got {spec!r}")
    _check_callable_module(module_name, spec, trusted=trust_pickle or not from_file)
    attr, kwargs = _call(attr, spec)
    if weights is not None:
        kwargs["weights"] = str(weights)
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


#: how a model file begins: a zip archive (torch.save, .keras), a pickle protocol 2+, HDF5
_MODEL_FILE_MAGIC = (b"PK\x03\x04", b"\x80", b"\x89HDF")


def _check_not_empty_or_text(path: Path, spec: str) -> None:
    """Refuse an empty file, and a file that is none of the binary formats model files use."""
    with open(path, "rb") as f:
        head = f.read(8)
    if not head:
        raise ValueError(f"model file {spec} is empty (0 bytes): save the model again")
    if not any(head.startswith(magic) for magic in _MODEL_FILE_MAGIC):
        kind = "a text file" if _is_text(path) else "an unknown binary file"
        raise ValueError(f"model file {spec} is {kind}, not a saved model (a model file is a zip "
                         "archive, a pickle or HDF5: torch.save or model.save writes one)")


def _is_text(path: Path) -> bool:
    with open(path, "rb") as f:
        start = f.read(1024)
    try:
        start.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in start


def check_spec(spec: str, *, trust_pickle: bool = False, from_file: bool = False) -> None:
    """Refuse a ``module:function`` spec that :func:`load_model` would refuse to call (see module notes)."""
    spec = str(spec)
    if Path(spec).suffix in _file_suffixes() or Path(spec).exists() or ":" not in spec:
        return
    module_name = spec.partition(":")[0]
    _check_callable_module(SOURCES.get(module_name, module_name), spec,
                           trusted=trust_pickle or not from_file)


def _check_callable_module(module_name, spec, *, trusted):
    root = module_name.split(".")[0]
    if root in sys.stdlib_module_names or root in REFUSED_MODULES:
        raise ValueError(f"{spec!r}: a model spec may not call functions of {root!r} (the standard "
                         "library and process, shell or network modules are refused)")
    if not trusted and root not in ("stviz_adapters", "stviz_core", "stviz_backends"):
        raise ValueError(f"{spec!r} comes from a file and calls code outside stviz; if you trust "
                         "the file, pass --trust-pickle (trust_pickle=True in Python)")


def _call(text, spec):
    """``("name", {kwargs})`` from ``name`` or ``name(key=value, ...)``."""
    if "(" not in text:
        return text, {}
    try:
        call = ast.parse(text, mode="eval").body
        if not isinstance(call, ast.Call) or not isinstance(call.func, ast.Name) or call.args \
                or any(kw.arg is None for kw in call.keywords):
            raise ValueError
        return call.func.id, {kw.arg: _literal(kw.value) for kw in call.keywords}
    except (SyntaxError, ValueError, TypeError, ZeroDivisionError):
        raise ValueError(f"{spec!r}: arguments must be keyword=literal pairs (numbers may use "
                         "+ - * /), e.g. module:function(width=1/4, input_size=112)") from None


_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
               ast.Div: operator.truediv}


def _literal(node):
    """A Python literal, or arithmetic (+ - * /) on numbers; anything else is a ValueError."""
    if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
        left, right = _literal(node.left), _literal(node.right)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (left, right)):
            raise ValueError("arithmetic on non-numbers")
        return _ARITHMETIC[type(node.op)](left, right)
    if isinstance(node, (ast.Tuple, ast.List)):
        values = [_literal(e) for e in node.elts]
        return tuple(values) if isinstance(node, ast.Tuple) else values
    return ast.literal_eval(node)


def _file_suffixes() -> dict:
    """``{suffix: plugin}`` over the installed backend plugins."""
    out = {}
    for name in sorted(plugins()):
        plugin = select_plugin(None, backend=name)
        for suffix in plugin_hook(plugin, "file_suffixes"):
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
    for name, value in plugin_hook(select_plugin(model), "weights")(model):
        value = np.ascontiguousarray(value)
        digest.update(f"{name}|{value.dtype.str}|{value.shape}|".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()
