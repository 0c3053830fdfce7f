"""Import paths of the 0.1 layout, kept for one release: each warns and hands over the new module.

``import stviz_adapters.models_torch`` (or ``from stviz_adapters.models_torch
import c3d``) still works and gives a ``DeprecationWarning`` naming the new path.
An old module whose names went to several modules reads them from each in turn
(``stviz_adapters.hed_weights.hed_vgg16`` is :mod:`stviz_adapters.zoo.hed_weights_torch`'s,
imported only when asked for, so a Keras-only install still imports the old path).
``tests/adapters/test_old_import_paths.py`` imports every name of the 0.1 modules through its old path.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

__all__ = ["MOVED", "install"]

#: old module -> new module, or the new modules that share its names (the first one named)
MOVED = {
    "stviz_adapters.layouts": "stviz_core.layouts",
    "stviz_adapters.files": "stviz_core.atomic",
    "stviz_adapters.rf": "stviz_backends.torch.receptive_field",
    "stviz_adapters.rf_keras": "stviz_backends.keras.receptive_field",
    "stviz_adapters.bn_folding": "stviz_backends.torch.bn_folding",
    "stviz_adapters.bn_folding_keras": "stviz_backends.keras.bn_folding",
    "stviz_adapters.architectures": "stviz_adapters.zoo.architectures",
    "stviz_adapters.models_torch": "stviz_adapters.zoo.vgg_c3d_torch",
    "stviz_adapters.models_keras": "stviz_adapters.zoo.vgg_c3d_keras",
    "stviz_adapters.families_torch": "stviz_adapters.zoo.declared_torch",
    "stviz_adapters.families_keras": "stviz_adapters.zoo.declared_keras",
    "stviz_adapters.porting": "stviz_adapters.zoo.porting",
    "stviz_adapters.hed_weights": ("stviz_adapters.zoo.hed_weights",
                                   "stviz_adapters.zoo.hed_weights_torch"),
    "stviz_adapters.hed_weights_keras": "stviz_adapters.zoo.hed_weights_keras",
    "stviz_adapters.render": "stviz_adapters.media.render",
    "stviz_adapters.figures": "stviz_adapters.media.figures",
    "stviz_adapters.manuscript": "stviz_adapters.media.manuscript",
    "stviz_adapters.sweep_grid": "stviz_adapters.sweep.grid",
    "stviz_adapters.sweep_ray": "stviz_adapters.sweep.ray_engine",
    "stviz_adapters.sweep_report": "stviz_adapters.sweep.report",
    "stviz_adapters.demo_model": "stviz_adapters.demo.model",
    "stviz_adapters.synthetic_actions": "stviz_adapters.demo.synthetic_actions",
}


def _targets(old) -> tuple:
    new = MOVED[old]
    return (new,) if isinstance(new, str) else tuple(new)


def _public(module) -> tuple:
    """The ``__all__`` of ``module``, or nothing where its framework is missing."""
    try:
        return tuple(getattr(importlib.import_module(module), "__all__", ()))
    except ImportError:
        return ()


class _Alias(importlib.abc.Loader):
    def create_module(self, spec):
        first, *more = _targets(spec.name)
        warnings.warn(f"{spec.name} moved to {' and '.join((first, *more))}; the old path goes in "
                      "the next release", DeprecationWarning, stacklevel=4)
        target = importlib.import_module(first)

        def lookup(attr):
            if hasattr(target, attr) or attr.startswith("__"):
                return getattr(target, attr)
            for name in more:  # imported on first use: they may need a framework
                module = importlib.import_module(name)
                if hasattr(module, attr):
                    return getattr(module, attr)
            raise AttributeError(f"module {spec.name!r} has no attribute {attr!r}")

        alias = types.ModuleType(spec.name, target.__doc__)
        alias.__getattr__ = lookup
        alias.__dir__ = lambda: sorted(set(dir(target)).union(*(_public(n) for n in more)))
        alias.__all__ = getattr(target, "__all__", [])
        return alias

    def exec_module(self, module):
        pass


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        if fullname in MOVED:
            return importlib.util.spec_from_loader(fullname, _Alias())
        return None


def install() -> None:
    """Put the finder of old paths on ``sys.meta_path`` (once)."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.append(_Finder())
