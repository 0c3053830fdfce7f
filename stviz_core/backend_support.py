"""What every framework backend shares, written once: layer calls, labels, the 16-bit rule, messages.

The backends (``stviz_backends.torch``, ``stviz_backends.keras``) import this
module; it imports no framework. ``docs/architecture.md``, "How to add a
backend", lists what a new backend takes from here.

* ``layer="name:k"`` names the k-th call (0-based) of a layer or module that
  one forward pass calls more than once (a shared block): :func:`split_call`;
  :func:`shared_layer_error` and :func:`call_out_of_range` are the two refusals.
* The model's class names come from its contract (``model.stviz_labels``):
  :func:`class_labels`.
* A 16-bit model (float16, bfloat16) gives the kernel float32 arrays, cast at
  the backend's boundary: Adam's state and the penalties would overflow in
  float16, and bfloat16 does not convert to numpy: :func:`kernel_dtype`.
* The messages for an unknown layer, inputs the model refuses, a target the
  forward pass never reaches, and an unknown receptive field.
"""

from __future__ import annotations

import inspect
import warnings

from .model_contract import contract_of
from .names import closest_names

__all__ = ["split_call", "class_labels", "SIXTEEN_BIT", "kernel_dtype", "unknown_layer",
           "inputs_refused", "unsupplied_arguments", "shared_layer_error", "call_out_of_range", "never_reached",
           "receptive_field_unknown", "quoted"]

#: the 16-bit floating dtypes whose models compute in their dtype while the kernel's arrays are float32
SIXTEEN_BIT = ("float16", "bfloat16")


def split_call(layer: str, names) -> tuple:
    """``(layer name, call)``: ``"block:1"`` is the second call of ``block`` (0-based).

    A name that is itself in ``names``, or whose part before the last ``":"``
    is not, or whose part after it is not a number, is a plain name with call None.

    Parameters
    ----------
    layer : str
        The layer as the user named it.
    names : collection of str
        The model's layer (or module) names.
    """
    name, sep, call = layer.rpartition(":")
    if layer in names or not sep or not call.isdigit() or name not in names:
        return layer, None
    return name, int(call)


def class_labels(model):
    """The model's class names in logit order (``model.stviz_labels``) as a tuple of str, or None."""
    return contract_of(model).labels


def kernel_dtype(model_dtype: str) -> str:
    """The name of the kernel's dtype for a model in ``model_dtype``: float32 for a 16-bit model."""
    return "float32" if model_dtype in SIXTEEN_BIT else model_dtype


def unknown_layer(layer: str, names, listing: str) -> ValueError:
    """The error for a layer the model does not have, with the closest names.

    ``listing`` says where the names come from, e.g. ``"model.layers"``.
    """
    names = [n for n in names if n]
    close = closest_names(layer, names) if len(layer) <= 200 else []
    return ValueError(f"the model has no layer {quoted(layer)}; closest names: "
                      f"{', '.join(close) or 'none'} ({len(names)} layers in all, see {listing})")


def quoted(name, limit: int = 60) -> str:
    """``repr(name)``, cut to ``limit`` characters with its length said when longer (a message
    stays one readable line whatever the user typed)."""
    name = str(name)
    return repr(name) if len(name) <= limit else f"{name[:limit]!r}... ({len(name)} characters)"


def inputs_refused(layout, specs, framework: str, exc: BaseException) -> ValueError:
    """The error for inputs the model cannot take: what it was given, in both layouts."""
    canonical = ", ".join(f"{k}: {s.shape}" for k, s in specs.items())
    return ValueError(f"the model cannot take inputs {layout.describe(specs)} (canonical "
                      f"{{{canonical}}} as (T, H, W, C)); {framework} said: "
                      f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")


def unsupplied_arguments(call, given: tuple) -> ValueError | None:
    """The error for a model whose ``call`` (its ``forward``) needs arguments besides the
    ``given`` inputs, which stviz passes in order; None when the inputs are all it needs."""
    try:
        parameters = list(inspect.signature(call).parameters.values())
    except (TypeError, ValueError):  # a builtin or C callable: nothing to read
        return None
    kinds = inspect.Parameter
    if any(p.kind is kinds.VAR_POSITIONAL for p in parameters):
        return None
    positional = [p for p in parameters if p.kind in (kinds.POSITIONAL_ONLY,
                                                      kinds.POSITIONAL_OR_KEYWORD)]
    needed = [p.name for p in positional[len(given):] if p.default is p.empty]
    needed += [p.name for p in parameters if p.kind is kinds.KEYWORD_ONLY and p.default is p.empty]
    if not needed:
        return None
    return ValueError(
        f"the model's forward needs {', '.join(needed)} besides the inputs stviz supplies "
        f"(it calls model({', '.join(given)})): wrap the model so that its forward takes only "
        f"those, or give the needed ones defaults")


def shared_layer_error(layer: str, calls: int, where: str, kind: str = "layer") -> ValueError:
    """The error for a target called ``calls`` > 1 times without ``"name:k"`` saying which call.

    ``where`` is ``"in one forward pass"`` or ``"in the model's graph"``; ``kind``
    what a shared one is called (``"module"``, ``"layer"``).
    """
    names = ", ".join(f"{layer}:{k}" for k in range(calls))
    return ValueError(f"layer {layer!r} is called {calls} times {where} (a shared {kind}); "
                      f"stviz visualizes one call: name it, as one of {names}")


def call_out_of_range(layer: str, calls: int, where: str, kind: str = "layer") -> ValueError:
    """The error for ``"name:k"`` with ``k`` >= the number of calls ``calls`` (as above)."""
    return ValueError(f"layer {layer!r}: the {kind} is called "
                      f"{calls} time{'s' if calls > 1 else ''} {where}, so its calls are "
                      f"0..{calls - 1}")


def never_reached(layer: str) -> RuntimeError:
    """The error for a forward pass that ended without calling the target layer."""
    return RuntimeError(f"the forward pass never reached layer {layer!r}: the model does not call "
                        "it for these inputs")


def receptive_field_unknown(layer: str, exc: BaseException, stacklevel: int = 3) -> None:
    """Warn that the target's receptive field is unknown, so the run uses rho 1 and no jitter."""
    warnings.warn(f"receptive field of {layer!r} unknown ({exc}); using rho = 1 and no jitter: "
                  "pass rho= and stride= to set them", stacklevel=stacklevel)
