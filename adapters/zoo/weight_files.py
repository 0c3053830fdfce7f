"""What readers of weight files share (numpy only): a safe unpickler and the checks of the result.

A family with trained weights has a reader that maps its file onto the
declared layer names (``{"<layer>.<leaf>": array}``, the layout of
:mod:`.graph`); :func:`load_numpy_pickle` reads a pickle of nested dicts of
numpy arrays without running anything in it, :func:`flatten_tree` walks such
a tree, and :func:`check_complete` compares a reader's result with the
declaration's :func:`~stviz_adapters.zoo.graph.weight_shapes`.
"""

from __future__ import annotations

import importlib.util
import os
import pickle

import numpy as np

__all__ = ["RefusedGlobalError", "NumpyOnlyUnpickler", "load_numpy_pickle", "flatten_tree",
           "check_complete"]


class RefusedGlobalError(ValueError):
    """A checkpoint pickle names a global outside numpy's array reconstruction."""


def _reconstruct():
    try:  # numpy >= 2
        from numpy._core.multiarray import _reconstruct as fn
    except ImportError:  # numpy 1.x
        from numpy.core.multiarray import _reconstruct as fn
    return fn


class NumpyOnlyUnpickler(pickle.Unpickler):
    """Resolves only the globals a plain ``numpy.ndarray`` pickle needs; refuses all others."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        ("numpy", "ndarray"): lambda: np.ndarray,
        ("numpy", "dtype"): lambda: np.dtype,
    }

    def find_class(self, module, name):
        resolve = self.ALLOWED.get((module, name))
        if resolve is None:
            raise RefusedGlobalError(
                f"refusing to unpickle global {module}.{name}: the checkpoint reader admits "
                "numpy array reconstruction only "
                f"({', '.join(sorted(m + '.' + n for m, n in self.ALLOWED))}); nothing was run")
        return resolve()

    def persistent_load(self, pid):
        raise RefusedGlobalError(f"refusing to unpickle persistent id {pid!r}")


def load_numpy_pickle(path, what: str = "checkpoint"):
    """The object pickled in ``path``, admitting numpy arrays and plain containers only.

    Raises
    ------
    RefusedGlobalError
        The pickle names anything but numpy's array reconstruction (nothing runs).
    ValueError
        A truncated or corrupt file (``what`` names it in the message).
    """
    with open(path, "rb") as f:
        try:
            return NumpyOnlyUnpickler(f).load()
        except RefusedGlobalError:
            raise
        except Exception as exc:  # EOFError, UnpicklingError, ... of a cut or damaged file
            raise ValueError(f"cannot read the {what} {path} (truncated or corrupt file?): "
                             f"{type(exc).__name__}: {exc}") from None


def flatten_tree(tree, prefix=()):
    """``(path parts, leaf)`` of a nested dict; a key holding ``/`` is split into parts."""
    for key, value in tree.items():
        path = prefix + tuple(str(key).split("/"))
        if isinstance(value, dict):
            yield from flatten_tree(value, path)
        else:
            yield path, value


def check_complete(weights: dict, shapes: dict, path) -> dict:
    """``weights`` when it holds every name of ``shapes``; else a ``ValueError`` naming a few missing."""
    missing = sorted(set(shapes) - set(weights))
    if missing:
        raise ValueError(f"{path} lacks {len(missing)} of the network's arrays, e.g. {missing[:3]}")
    return weights


def packaged_file(path, package: str, relative: str, *, what: str, pip: str, hint: str) -> str:
    """A weight file: ``path`` when given, or ``relative`` inside the installed ``package``,
    located without importing it (none of its code runs).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist, or the package is missing or lacks the file; the message
        names ``what`` and gives the ``pip`` command (``hint``: how to pass a path instead).
    """
    if path is not None:
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{what} not found: {os.fspath(path)}")
        return os.fspath(path)
    spec = importlib.util.find_spec(package)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        if os.path.isfile(os.path.join(folder, relative)):
            return os.path.join(folder, relative)
    state = "is not installed" if spec is None else f"lacks {relative}"
    raise FileNotFoundError(f"the {what} come from the PyPI package {pip.split()[-1].split('==')[0]}, "
                            f"which {state}; install it: {pip} ({hint})")
