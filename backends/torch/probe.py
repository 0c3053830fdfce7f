"""The probe at construction and the forward hook: which call of the target module is seen.

:class:`ForwardProbe` is the part of :class:`.backend.TorchBackend` that counts
and captures: the forward hook on the target module (:meth:`ForwardProbe._capture`)
stops the forward pass at the call the run visualizes (``layer="name:k"``, or
the only one), and :meth:`ForwardProbe._probe` runs one forward and backward
pass on zeros at construction to find the activation shape, the inputs the
target depends on, and (for a plain name) whether the module is shared.
"""

from __future__ import annotations

from stviz_core.backend_support import inputs_refused, shared_layer_error, unsupplied_arguments
from stviz_core.layouts import to_model

from . import memory_format as _mf
from .kernel_hooks import FlopCount

__all__ = ["ForwardProbe", "Stop", "is_backend_hook", "channels_to_end"]


class Stop(BaseException):
    """Raised by the hook to end the forward pass at the target layer.

    A ``BaseException`` so that a model's own ``except Exception`` cannot swallow it.
    """


class ForwardProbe:
    """The forward hook, the probe at construction and the count of a module's calls (a mixin of
    :class:`.backend.TorchBackend`, whose attributes it uses)."""

    def _capture(self, module, args, output):
        if not self._armed:  # someone else runs the model (tracing, the user's own calls)
            return None
        self._calls += 1
        if self._counting or (self.call is not None and self._calls - 1 != self.call):
            return None
        output = self._token_output(output)  # a transformer's tokens on their grid (.tokens)
        if not isinstance(output, self.torch.Tensor):
            raise TypeError(
                f"layer {self.layer!r} returns {type(output).__name__}, not a tensor; "
                "pick a layer whose output is one tensor"
            )
        self._captured = output
        raise Stop

    def _probe(self):
        """One forward and backward pass on zeros: the activation shape, and the names of the
        inputs the target layer depends on (through the autograd graph)."""
        torch = self.torch
        self._grad_flows = None
        unsupplied = unsupplied_arguments(self.model.forward, tuple(self.layout.names))
        if unsupplied is not None:
            raise unsupplied
        leaves = {k: torch.zeros((1, *s.shape), dtype=self.dtype, device=self.device,
                                 requires_grad=True) for k, s in self.inputs.items()}
        try:
            with torch.enable_grad(), self._autocast(), FlopCount() as forward:
                out = self._forward(leaves)
        except RuntimeError as exc:
            if "never reached" in str(exc):
                raise
            raise inputs_refused(self.layout, self.inputs, "the model", exc) from None
        if self.call is None:
            self._refuse_shared(leaves)
        shape = tuple(channels_to_end(out).shape)
        #: whether the target's output depends on the inputs (False: nothing to differentiate)
        self._grad_flows = bool(out.requires_grad)
        if not out.requires_grad:
            return shape, set(self.inputs)
        try:
            with FlopCount() as backward:
                grads = torch.autograd.grad(out.sum(), list(leaves.values()), allow_unused=True)
        except RuntimeError as exc:
            raise self._explained(exc) from None
        if forward.flops is not None and backward.flops is not None:
            #: floating-point operations of one visualization's step (forward and input gradient)
            self.step_flops = float(forward.flops + backward.flops)
        return shape, {k for k, g in zip(leaves, grads, strict=True) if g is not None}

    def _refuse_shared(self, leaves):
        """Refuse a target module that one forward pass calls more than once (a shared block):
        which call is meant must be named. Counted with one forward pass of the whole model."""
        torch = self.torch
        args = [_mf.argument(a.detach().to(self.model_dtype), self.channels_last)
                for a in to_model(self.layout, leaves, self.xp)]
        self._armed, self._counting, self._calls = True, True, 0
        try:
            with torch.no_grad(), self._autocast():
                self.model(*args)
        except Exception:  # noqa: BLE001 - the model fails past the target: count what was seen
            pass
        finally:
            self._armed, self._counting = False, False
        if self._calls > 1:
            raise shared_layer_error(self.layer, self._calls, "in one forward pass", "module")


def is_backend_hook(fn):
    """Whether ``fn`` is a :class:`.backend.TorchBackend`'s hook (another backend open on the same
    model)."""
    return getattr(fn, "__func__", None) is ForwardProbe._capture


def channels_to_end(out):
    """``out`` with its channel axis (axis 1) moved last, as the kernel takes activations."""
    if out.ndim <= 2:
        return out
    return out.permute((0, *range(2, out.ndim), 1))
