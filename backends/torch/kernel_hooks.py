"""What the kernel asks of PyTorch beyond the forward pass: threads, the work of a step, resampling,
the fused step.

:class:`KernelHooks` is the part of :class:`.backend.TorchBackend` that answers the
optional members of issue 27 (``docs/architecture.md``, sec. 2): ``set_threads`` (the thread
policy of :mod:`stviz_core.threads`, applied with ``torch.set_num_threads`` only when it
changes), ``step_flops`` (counted at construction by :class:`FlopCount` on the probe's
forward and backward pass), ``resample`` (the transforms' bilinear reads as one
``torch.nn.functional.grid_sample`` for the whole batch, its adjoint from autograd) and
``compiled`` (the kernel's pure step functions through ``torch.compile``, :mod:`.fused_step`).
"""

from __future__ import annotations

import functools

from . import fused_step

__all__ = ["KernelHooks", "FlopCount"]


def _flop_count_mode():
    """A ``TorchDispatchMode`` that adds up the floating-point operations of convolutions and
    matrix products (``torch.utils.flop_counter``'s formulas) of what runs inside it."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_map
    from torch.utils.flop_counter import flop_registry

    def shape(value):
        return value.shape if isinstance(value, torch.Tensor) else value

    class Counting(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.flops = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            kwargs = kwargs or {}
            out = func(*args, **kwargs)
            formula = flop_registry.get(func._overloadpacket)
            if formula is not None:
                self.flops += int(formula(*tree_map(shape, args), **tree_map(shape, kwargs),
                                          out_val=tree_map(shape, out)))
            return out

    return Counting()


class FlopCount:
    """``with FlopCount() as count: ...`` then ``count.flops`` (None when counting failed)."""

    def __enter__(self):
        self.flops, self._mode = None, None
        try:
            self._mode = _flop_count_mode().__enter__()
        except Exception:  # noqa: BLE001 - an estimate only: a torch without the counter
            self._mode = None
        return self

    def __exit__(self, *exc):
        if self._mode is not None:
            self._mode.__exit__(*exc)
            self.flops = self._mode.flops
        return False


class KernelHooks:
    """``set_threads``, ``resample`` (a mixin of :class:`.backend.TorchBackend`, whose ``torch``,
    ``dtype`` and ``device`` it uses); ``step_flops`` is set by the backend's probe."""

    #: floating-point operations of one visualization's step, counted at construction
    step_flops = None
    #: the thread policy's record (``describe()["threads"]``), None before a run applied one
    threads_record = None
    _threads_before = None

    #: the ``torch.compile`` backend of the fused step (``fused_step``), None: the eager step
    fused_step = None

    @property
    def compiled(self):
        """The kernel's optional ``compiled(fn)`` (:mod:`.fused_step`): ``fn`` through
        ``torch.compile``; None (the eager step) unless the backend was made with ``fused_step``."""
        if self.fused_step is None:
            return None
        return functools.partial(fused_step.compiled, compiler=self.fused_step)

    def set_threads(self, record):
        """Apply ``record["threads"]`` with ``torch.set_num_threads`` unless torch already uses
        that many; keep the record for :meth:`describe` and return it. :meth:`close` gives
        torch back the threads it had (the process's other work keeps its setting)."""
        torch, n = self.torch, int(record["threads"])
        before = torch.get_num_threads()
        if before != n:
            torch.set_num_threads(n)
            if self._threads_before is None:
                self._threads_before = before
        applied = torch.get_num_threads() == n
        self.threads_record = dict(record, applied=applied, changed=before != n)
        if not applied:
            self.threads_record["note"] = f"torch runs {torch.get_num_threads()} threads"
        return self.threads_record

    def _restore_threads(self):
        if self._threads_before is not None:
            self.torch.set_num_threads(self._threads_before)
            self._threads_before = None

    def resample(self, x, at):
        """``x`` ``(N, T, H', W', C)`` read bilinearly at ``at`` ``(N, H, W, 2)`` (``(x, y)`` pixel
        positions, zeros outside): ``(y, pullback)``, ``pullback(g)`` the adjoint applied to ``g``.

        One ``grid_sample`` (``align_corners=True``: pixel ``0`` and ``W' - 1`` at ``-1`` and
        ``1``) for the whole batch; None (the kernel's array-API version reads it) for an image
        with a side of one pixel, and on a GPU under ``torch.use_deterministic_algorithms(True)``
        (there grid_sample's backward adds with atomics: runs agree to rounding, not bit for bit).
        """
        torch = self.torch
        n, t, height, width, c = x.shape
        if height < 2 or width < 2:
            return None
        if x.device.type != "cpu" and torch.are_deterministic_algorithms_enabled():
            return None  # grid_sample's backward adds with atomics on a GPU: not bit for bit
        leaf = x.detach().requires_grad_(True)
        grid = torch.stack((at[..., 0] * (2.0 / (width - 1)) - 1.0,
                            at[..., 1] * (2.0 / (height - 1)) - 1.0), dim=-1)
        with torch.enable_grad():
            planes = leaf.permute(0, 1, 4, 2, 3).reshape(n, t * c, height, width)
            out = torch.nn.functional.grid_sample(planes, grid.to(leaf.dtype), mode="bilinear",
                                                  padding_mode="zeros", align_corners=True)
            y = out.reshape(n, t, c, *at.shape[1:3]).permute(0, 1, 3, 4, 2)

        def pullback(g):
            return torch.autograd.grad(y, leaf, grad_outputs=g)[0]

        return y.detach(), pullback
