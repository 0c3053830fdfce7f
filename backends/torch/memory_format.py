"""Channels-last memory format for convolutional models (the ``channels_last`` option of the backend).

On CUDA, cuDNN's convolutions are fastest in NHWC / NDHWC: ``torch.channels_last``
for ``nn.Conv2d`` and ``torch.channels_last_3d`` for ``nn.Conv3d``. A model
can mix both (the two-stream VGG-16's 3D fusion convolution), so the weights
are converted module by module, on a copy: the user's model is never changed.
:class:`stviz_backends.torch.TorchBackend` checks the converted copy against
the contiguous model on one random input (:func:`mismatch`) before using it.
"""

from __future__ import annotations

import contextlib
import copy

__all__ = ["full_float32", "copy_model", "contiguous_weights", "conv_layers", "needs_conversion",
           "convert", "revert", "argument", "tolerance", "mismatch"]


@contextlib.contextmanager
def full_float32():
    """TF32 off for CUDA convolutions and matrix products while the block runs (restored after).

    The check of the channels-last format compares two runs of a deep network: with TF32 (on by
    default for cuDNN convolutions) their rounding differences grow to ~10% of the input
    gradient's norm at 224 px, and would hide what the check looks for.
    """
    import torch

    flags = [(torch.backends.cudnn, "allow_tf32"), (torch.backends.cuda.matmul, "allow_tf32")]
    saved = []
    try:
        for owner, name in flags:
            saved.append((owner, name, getattr(owner, name)))
            setattr(owner, name, False)
    except Exception:  # noqa: S110 - a torch without these flags: run as configured
        pass
    try:
        yield
    finally:
        for owner, name, value in reversed(saved):
            setattr(owner, name, value)


def copy_model(model, *, drop=None):
    """A deep copy of ``model`` whose hooks are the model's own hook functions, not copies.

    A hook is often a bound method or closure over objects that cannot be copied (another
    backend's hook on the same model); copying it would fail or duplicate its owner. Hooks for
    which ``drop(hook)`` is true are left off the copy.
    """
    memo = {}
    for m in model.modules():
        for hooks in _hook_dicts(m):
            for fn in hooks.values():
                if callable(fn):
                    memo[id(fn)] = fn
    copied = copy.deepcopy(model, memo)
    if drop is not None:
        for m in copied.modules():
            dicts = _hook_dicts(m)
            for hooks in dicts:
                for key, fn in list(hooks.items()):
                    if callable(fn) and drop(fn):
                        for other in dicts:  # with its entries in the flag dicts (with_kwargs, ...)
                            other.pop(key, None)
    return copied


def contiguous_weights(model) -> int:
    """Make every parameter of ``model`` (the backend's own copy) contiguous; the number that were
    not. A strided weight (a kernel loaded from a channels-last layout) makes the CPU's
    convolution copy it at every call, forward and backward (~20 ms a step on the I3D)."""
    strided = [p for p in model.parameters() if not p.is_contiguous()]
    for p in strided:
        p.data = p.data.contiguous()
    return len(strided)


def _hook_dicts(module) -> list:
    return [v for k, v in vars(module).items() if "hooks" in k and isinstance(v, dict)]


def conv_layers(model) -> list:
    """``[(module, memory format), ...]``: each ``nn.Conv2d`` (``channels_last``) and ``nn.Conv3d``
    (``channels_last_3d``) of ``model``, in ``model.modules()`` order."""
    import torch
    from torch import nn

    found = []
    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            found.append((m, torch.channels_last_3d))
        elif isinstance(m, nn.Conv2d):
            found.append((m, torch.channels_last))
    return found


def needs_conversion(model) -> bool:
    """Whether some convolution weight of ``model`` is not yet in its channels-last format."""
    return any(not m.weight.is_contiguous(memory_format=fmt) for m, fmt in conv_layers(model))


def convert(model) -> list:
    """Convert every convolution weight of ``model`` to its channels-last format, in place.

    Values are unchanged (only the strides are). Call it on a copy.

    Returns
    -------
    list
        ``[(parameter, old stride), ...]`` of the weights whose layout changed: :func:`revert` undoes
        the conversion exactly.
    """
    import torch

    undo = []
    with torch.no_grad():
        for m, fmt in conv_layers(model):
            w = m.weight
            if w.is_contiguous(memory_format=fmt):
                continue
            undo.append((w, w.stride()))
            w.data = w.data.contiguous(memory_format=fmt)
    return undo


def revert(undo) -> None:
    """Undo :func:`convert`: each weight back to its old strides (same values)."""
    import torch

    with torch.no_grad():
        for w, stride in undo:
            old = torch.empty_strided(w.shape, stride, dtype=w.dtype, device=w.device)
            old.copy_(w.data)
            w.data = old


def argument(a, channels_last: bool):
    """A fresh copy of the model argument ``a``: channels-last (4-D ``channels_last``, 5-D
    ``channels_last_3d``) when ``channels_last``, contiguous otherwise.

    Always a new tensor, never ``a`` or a view of it, so in-place operations in the model cannot
    reach the caller's tensors.
    """
    import torch

    fmt = torch.contiguous_format
    if channels_last and a.ndim == 4:
        fmt = torch.channels_last
    elif channels_last and a.ndim == 5:
        fmt = torch.channels_last_3d
    if a.is_contiguous(memory_format=fmt):  # .contiguous would return ``a`` itself
        return a.clone(memory_format=fmt)
    return a.contiguous(memory_format=fmt)


def tolerance(dtype) -> float:
    """Largest accepted difference between the two formats: the norm of the difference relative
    to the norm of the contiguous result.

    Both formats compute the same function; only the order of summation (and on GPUs the
    convolution algorithm, with TF32 for float32) differs, and in a deep network such rounding
    moves a few max-pooling and ReLU switches, which changes the gradient at those pixels: the
    float32 gradient of a 224 px VGG-16 differs by about 1e-3 in norm (1e-2 at its worst pixel).
    A model that mistakes the layout gives differences of order one.
    """
    import torch

    return {torch.float64: 1e-6, torch.float32: 5e-2, torch.float16: 0.1,
            torch.bfloat16: 0.2}.get(dtype, 5e-2)


def mismatch(name, reference, candidate, tol) -> str | None:
    """Why ``candidate`` differs from ``reference`` beyond ``tol`` (the norm of the difference
    relative to the norm of ``reference``), or None when they agree. ``name`` names the tensor."""
    import torch

    if reference is None or candidate is None:
        if reference is None and candidate is None:
            return None
        return f"the {name} exists in one memory format only"
    if reference.shape != candidate.shape:
        return f"the {name} has shape {tuple(candidate.shape)} instead of {tuple(reference.shape)}"
    ref, new = reference.detach().double(), candidate.detach().double()
    if not bool(torch.isfinite(new).all()) and bool(torch.isfinite(ref).all()):
        return f"the {name} is not finite"
    scale = float(torch.linalg.vector_norm(ref))
    diff = float(torch.linalg.vector_norm(ref - new))
    if diff > tol * max(scale, 1e-30):
        return (f"the {name} differs by {diff / max(scale, 1e-30):.3g} relative to its norm "
                f"(tolerance {tol:g})")
    return None
