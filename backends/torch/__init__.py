"""The PyTorch plugin of stviz (entry point ``torch`` of the ``stviz.backends`` group).

The plugin functions below are what the kernel and the adapters ask of a
framework (``docs/architecture.md``, "The plugin hooks"). None of them imports
torch to answer for a model that is not a torch one: :func:`accepts` looks in
``sys.modules`` first.

Modules: :mod:`.backend` (:class:`TorchBackend`, the backend contract),
:mod:`.probe` (its forward hook, probe and call counting), :mod:`.channels_last_trial`
(its choice of memory format),
:mod:`.receptive_field` (field and stride from the ``torch.fx`` graph),
:mod:`.bn_folding` (conv -> BN pairs folded on a copy), :mod:`.memory_format`
(channels-last convolutions, on a copy), :mod:`.cuda_graphs` (captured passes).
"""

from __future__ import annotations

import sys

from stviz_core.names import closest_names

from .backend import TorchBackend

__all__ = ["name", "file_suffixes", "accepts", "create", "weights", "prepare", "load_file",
           "receptive_fields", "set_threads", "backend_options", "TorchBackend", "closest_names"]

name = "torch"

#: model files this plugin opens (:func:`load_file`)
file_suffixes = (".pt", ".pth")


def accepts(model) -> bool:
    """True for a ``torch.nn.Module`` (checked without importing torch)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(model, torch.nn.Module)


#: the keyword options :func:`create` passes on to :class:`TorchBackend`
#: (``stviz_core.visualize(..., backend_options={...})``)
backend_options = ("fold_batch_norm", "autocast", "channels_last", "cuda_graphs", "fused_step")


def create(model, *, layer, inputs=None, layout=None, **options):
    """Open a :class:`TorchBackend` on ``model`` at ``layer``.

    Parameters
    ----------
    model : torch.nn.Module
    layer : str
    inputs, layout : optional
        See :class:`TorchBackend`.
    **options
        Any of :data:`backend_options`: ``fold_batch_norm``, ``autocast``, ``channels_last``,
        ``cuda_graphs``, ``fused_step`` (see :class:`TorchBackend`).

    Raises
    ------
    TypeError
        For an option not in :data:`backend_options`.
    """
    unknown = sorted(set(options) - set(backend_options))
    if unknown:
        raise TypeError(
            f"unknown torch backend option{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(map(repr, unknown))}; valid options: {', '.join(backend_options)}")
    return TorchBackend(model, layer, inputs=inputs, layout=layout, **options)


def weights(model):
    """``(name, numpy array)`` for every entry of the model's ``state_dict``, in order."""
    return ((key, t.detach().cpu().numpy()) for key, t in model.state_dict().items())


def prepare(model, *, dtype: str | None = None, device: str | None = None):
    """The model moved to ``device`` and cast to ``dtype`` (a name such as ``"float64"``), eval mode.

    None keeps the model's device or dtype.
    """
    import torch

    moved = {"device": device} if device is not None else {}
    if dtype is not None:
        moved["dtype"] = getattr(torch, dtype)
    return model.to(**moved).eval()


def load_file(path, *, trust_pickle: bool = True):
    """The ``torch.nn.Module`` pickled in ``path`` (``torch.save(model, path)``).

    Unpickling runs code from the file: only open files you trust.
    """
    import torch

    return torch.load(path, map_location="cpu", weights_only=not trust_pickle)


def receptive_fields(model, input_size=None) -> dict:
    """``{layer: (rf, stride)}`` (see :mod:`.receptive_field`)."""
    from .receptive_field import receptive_fields as fields

    return fields(model, input_size)


def set_threads(n: int) -> None:
    """Limit torch's intra-op threads (:func:`stviz_core.threads.request`), now when torch runs
    (once per change); a torch not yet imported is left alone: the backend applies the
    request when a run starts."""
    torch = sys.modules.get("torch")
    if torch is not None and torch.get_num_threads() != n:
        torch.set_num_threads(n)
