"""Array-namespace helpers shared by the kernel modules."""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace, device as array_device

__all__ = ["namespace", "per_item_sum", "to_numpy", "from_numpy", "array_device"]


def namespace(*arrays, xp=None):
    """Return ``xp`` if given, else the array-API namespace of ``arrays``."""
    if xp is not None:
        return xp
    try:
        return array_namespace(*arrays)
    except TypeError as exc:
        kinds = ", ".join(sorted({type(a).__name__ for a in arrays}))
        raise TypeError(
            f"expected arrays of an array-API library (numpy, torch, ...), got {kinds}"
        ) from exc


def per_item_sum(values, xp):
    """Sum over every axis but the first: one value per visualization."""
    if values.ndim == 1:
        return values
    return xp.sum(values, axis=tuple(range(1, values.ndim)))


def to_numpy(x) -> np.ndarray:
    """Copy any array-API array (any device) to a host ``numpy.ndarray``."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach"):  # autograd tensors refuse DLPack export
        x = x.detach()
    try:
        return np.from_dlpack(x)
    except (BufferError, RuntimeError, TypeError, ValueError):
        if hasattr(x, "cpu"):
            return np.from_dlpack(x.cpu())
        return np.asarray(x)


def from_numpy(values, xp, *, dtype, device):
    """Place a host array in namespace ``xp`` with the given dtype and device."""
    return xp.asarray(np.array(values, order="C", copy=True), dtype=dtype, device=device)
