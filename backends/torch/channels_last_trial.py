"""The channels-last trial at construction: convert the working copy, compare, keep or go back.

:class:`ChannelsLastTrial` is the part of :class:`.backend.TorchBackend` that
decides the memory format (its ``channels_last`` option): the model to convert
(a copy, :func:`.memory_format.copy_model`), the comparison of both formats'
target output and input gradient on one random input (in float64 where it
can), and the way back to the contiguous model with the reason when they differ.
"""

from __future__ import annotations

import warnings

from . import memory_format as _mf
from .probe import is_backend_hook

__all__ = ["ChannelsLastTrial"]


class ChannelsLastTrial:
    """The channels-last decision (a mixin of :class:`.backend.TorchBackend`, whose attributes it
    uses)."""

    def _working_model(self, model, channels_last):
        """The model to convert to channels-last format (``model`` itself when it is already a copy),
        or None when the format stays contiguous (with a warning when ``channels_last`` is True)."""
        wanted = channels_last if channels_last is not None else self.device.type == "cuda"
        if not wanted:
            return None
        reason = None
        if not _mf.conv_layers(model):
            reason = "the model has no nn.Conv2d or nn.Conv3d module"
        elif model is self.user_model and _mf.needs_conversion(model):
            try:
                return _mf.copy_model(model, drop=is_backend_hook)
            except Exception as exc:
                reason = f"the model cannot be copied ({type(exc).__name__}: {exc})"
        else:
            return model  # the BN-folded copy, or weights already in channels-last format
        if channels_last is True:
            warnings.warn(f"channels_last=True ignored, the contiguous format is used: {reason}",
                          UserWarning, stacklevel=3)
        return None

    def _try_channels_last(self, model, *, explicit):
        """Convert ``self.model`` to channels-last format if it computes the same there; else go back
        to ``model`` (contiguous) and say why (``describe()["channels_last_reason"]``, and a warning
        when ``explicit``).

        The comparison runs in float64 on the working copy when it can (the copy goes back to its
        dtype exactly afterwards): both formats then agree to ~1e-12, and a model that mistakes the
        layout differs by order one, whatever TF32 or the convolution algorithms would round. Where
        float64 fails (a device or layer without it) it runs in the model's dtype with TF32 off.
        """
        reason = None
        if self.model is not self.user_model and self.model_dtype != self.torch.float64:
            try:
                reason = self._compare_formats(self.torch.float64)
            except Exception:  # noqa: BLE001 - no float64 here: compare in the model's dtype
                _mf.revert(getattr(self, "_undo", []))
                self.model.to(self.model_dtype)
                reason = self._compare_formats(self.model_dtype)
        else:
            reason = self._compare_formats(self.model_dtype)
        self.channels_last_reason = reason
        if reason is None:
            return
        self.channels_last = False
        _mf.revert(self._undo)
        if self.model is not model:  # drop the copy: the model itself runs, as without the option
            self._attach(model, self.target)
        if explicit:
            warnings.warn(f"channels_last=True ignored, the contiguous format is used: {reason}",
                          UserWarning, stacklevel=4)

    def _compare_formats(self, dtype):
        """Convert ``self.model`` (computing in ``dtype`` meanwhile) and return why its output or
        input gradient differs from the contiguous format's, or None; ``self._undo`` undoes it."""
        torch = self.torch
        self._undo, self.channels_last = [], False
        autocast, self.autocast = self.autocast, None if dtype == torch.float64 else self.autocast
        if dtype != self.model_dtype:
            self.model.to(dtype)
        self._compute_dtype = dtype
        try:
            g = torch.Generator().manual_seed(0)
            x = {k: (torch.randn((1, *s.shape), generator=g, dtype=torch.float64) * 50).to(
                dtype=dtype, device=self.device) for k, s in self.inputs.items()}
            with _mf.full_float32():
                ref_out, ref_grads, cot = self._trial(x, g)
            self._undo = _mf.convert(self.model)
            self.channels_last = True
            try:
                with _mf.full_float32():
                    out, grads, _ = self._trial(x, g, cot)
            except Exception as exc:  # any failure means: not in this format
                if dtype != self.model_dtype:
                    raise
                return (f"the model fails in that format ({type(exc).__name__}: "
                        f"{str(exc).splitlines()[0]})")
            tol = _mf.tolerance(getattr(torch, self.autocast) if self.autocast else dtype)
            reason = _mf.mismatch(f"output of {self.layer!r}", ref_out, out, tol)
            for k, a, b in zip(x, ref_grads, grads, strict=True):
                reason = reason or _mf.mismatch(f"gradient w.r.t. {k!r}", a, b, tol)
            return reason
        finally:
            self.autocast, self._compute_dtype = autocast, None
            if dtype != self.model_dtype:
                self.model.to(self.model_dtype)  # float64 -> the model's dtype: exact, strides kept

    def _trial(self, x, generator, cotangent=None):
        """``(output, input gradients, r)``: the target's output for ``x`` and the gradients of
        ``<output, r>`` w.r.t. ``x``; ``r`` is drawn from ``generator`` when not given."""
        torch = self.torch
        leaves = {k: v.detach().clone().requires_grad_(True) for k, v in x.items()}
        with torch.enable_grad(), self._autocast():
            out = self._forward(leaves)
        if cotangent is None:
            cotangent = torch.randn(out.shape, generator=generator, dtype=torch.float64)
        if not out.requires_grad:
            return out.detach(), [None] * len(leaves), cotangent
        grads = torch.autograd.grad(out, list(leaves.values()), allow_unused=True,
                                    grad_outputs=cotangent.to(dtype=out.dtype, device=out.device))
        return out.detach(), list(grads), cotangent

