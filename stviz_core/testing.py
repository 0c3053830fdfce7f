"""A reference backend in plain array-API code, for testing the kernel without a framework.

:class:`LinearBackend` is a model whose activation is linear in its inputs: a
"valid" 3D correlation of each input with its own kernel, the results summed
(a linear two-stream net when there are two inputs). With a ``1 x 1 x 1``
kernel it is a per-pixel dot product with a fixed weight vector per channel.
Its optimum under the hard bound alone is known in closed form, which makes it
the kernel's end-to-end test model.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from ._xp import array_device, from_numpy
from .backend import input_specs

__all__ = ["LinearBackend"]


class LinearBackend:
    """``A[n, t, h, w, k] = sum_inputs sum_{dt,dh,dw,c} K[dt,dh,dw,c,k] x[n, t+dt, h+dh, w+dw, c]``.

    Parameters
    ----------
    kernels : mapping of str to ndarray
        Per input, a kernel of shape ``(kt, kh, kw, C, K)``; every input must
        give the same output shape.
    inputs : mapping of str to InputSpec or (shape, role)
        Per input, its ``(T, H, W, C)`` shape and role.
    xp : namespace
        Array-API namespace the backend computes in (numpy, array_api_strict,
        array_api_compat.torch, ...).
    dtype, device : optional
        Default: float64 on the namespace's default device.
    """

    name = "linear-reference"

    def __init__(self, kernels: Mapping, inputs: Mapping, *, xp, dtype=None, device=None):
        self.xp = xp
        self.dtype = xp.float64 if dtype is None else dtype
        self.device = device
        self.inputs = input_specs(inputs)
        if set(kernels) != set(self.inputs):
            raise ValueError(f"kernels for {sorted(kernels)} but inputs {sorted(self.inputs)}")
        self.kernels_np = {k: np.asarray(v, dtype=np.float64) for k, v in kernels.items()}
        self.kernels = {
            k: from_numpy(v, xp, dtype=self.dtype, device=device) for k, v in self.kernels_np.items()
        }
        out = {k: self._out_shape(k) for k in self.inputs}
        if len(set(out.values())) != 1:
            raise ValueError(f"the inputs' outputs differ in shape: {out}")
        self.out_shape = next(iter(out.values()))
        self.calls = 0

    def _out_shape(self, name):
        kt, kh, kw, c, k = self.kernels_np[name].shape
        t, h, w, ci = self.inputs[name].shape
        if c != ci:
            raise ValueError(f"kernel of {name!r} expects {c} channels, input has {ci}")
        return (t - kt + 1, h - kh + 1, w - kw + 1, k)

    def _taps(self, name):
        kt, kh, kw = self.kernels_np[name].shape[:3]
        for dt in range(kt):
            for dh in range(kh):
                for dw in range(kw):
                    yield dt, dh, dw

    def activations(self, inputs):
        self.calls += 1
        t, h, w, _ = self.out_shape
        total = None
        for name, x in inputs.items():
            for dt, dh, dw in self._taps(name):
                window = x[:, dt : dt + t, dh : dh + h, dw : dw + w, :]
                term = self.xp.matmul(window, self.kernels[name][dt, dh, dw, ...])
                total = term if total is None else total + term
        return total

    def vjp(self, cotangent):
        xp = self.xp
        grads = {}
        for name, spec in self.inputs.items():
            T, H, W, C = spec.shape
            t, h, w, _ = self.out_shape
            grad = None
            for dt, dh, dw in self._taps(name):
                part = xp.matmul(cotangent, xp.permute_dims(self.kernels[name][dt, dh, dw, ...], (1, 0)))
                part = _pad(part, (dt, T - t - dt), 1, xp)
                part = _pad(part, (dh, H - h - dh), 2, xp)
                part = _pad(part, (dw, W - w - dw), 3, xp)
                grad = part if grad is None else grad + part
            grads[name] = grad
        return grads

    def receptive_field(self):
        """Spatial kernel size (largest over inputs) and stride 1."""
        return max(max(k.shape[1:3]) for k in self.kernels_np.values()), 1

    def describe(self):
        return {"model": "LinearBackend", "layer": "linear",
                "kernels": {k: list(v.shape) for k, v in self.kernels_np.items()}}


def _pad(x, widths, axis, xp):
    parts = []
    for width, at_end in ((widths[0], False), (widths[1], True)):
        if width:
            shape = list(x.shape)
            shape[axis] = width
            parts.append((at_end, xp.zeros(tuple(shape), dtype=x.dtype, device=array_device(x))))
    before = [p for end, p in parts if not end]
    after = [p for end, p in parts if end]
    return xp.concat(before + [x] + after, axis=axis) if parts else x

