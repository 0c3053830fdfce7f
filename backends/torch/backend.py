"""The PyTorch backend: a forward hook on the target layer, early exit, and one VJP per step.

While a :class:`TorchBackend` is open the model is in eval mode, its parameters
do not require gradients (nothing is accumulated in ``.grad``), and a forward
hook sits on the target layer. :meth:`TorchBackend.close` (also run by
``with``, by :func:`stviz_core.visualize` and when construction fails) removes
the hook and restores every module's mode and every parameter's
``requires_grad``. Weights and buffers are never written.
"""

from __future__ import annotations

import warnings

from stviz_core.layouts import resolve, to_model
from stviz_core.names import closest_names

from .bn_folding import fold_batch_norm, fold_pairs
from .receptive_field import receptive_field

__all__ = ["TorchBackend"]

class _Stop(BaseException):
    """Raised by the hook to end the forward pass at the target layer.

    A ``BaseException`` so that a model's own ``except Exception`` cannot swallow it.
    """


class TorchBackend:
    """The backend contract (``stviz_core.backend``) for a ``torch.nn.Module``.

    Parameters
    ----------
    model : torch.nn.Module
    layer : str
        Qualified module name, as ``model.named_modules()`` lists it
        (e.g. ``"conv5_fusion"``, ``"rgb.conv3_3"``).
    inputs : mapping, optional
        ``{name: (T, H, W, C)}``; defaults to ``model.stviz_inputs``.
    layout : stviz_core.layouts.Layout, optional
        How canonical inputs become the model's arguments; defaults to
        ``model.stviz_layout``.
    fold_batch_norm : bool
        Visualize a copy of the model with every conv -> BN pair folded into
        the convolution (as the paper does; the same function in eval mode,
        one layer less per pair). Only made when the model has such pairs; a
        target that is a folded BN layer becomes its convolution.
    autocast : {None, "bfloat16", "float16"}
        Run the forward and backward pass under ``torch.autocast`` in that
        dtype (faster on GPUs); the kernel's arrays stay in the model's dtype.

    Device and dtype follow the model's first parameter (CPU float32 for a
    model without any).
    """

    name = "torch"

    def __init__(self, model, layer, *, inputs=None, layout=None, fold_batch_norm=True,
                 autocast=None):
        import torch
        from array_api_compat import torch as xp

        self.torch, self.xp, self.user_model, self.layer = torch, xp, model, layer
        if autocast not in (None, "bfloat16", "float16"):
            raise ValueError(f"unknown autocast {autocast!r}; valid choices: None, 'bfloat16', "
                             "'float16'")
        self.autocast = autocast
        self.folded = []
        target = layer
        if fold_batch_norm and layer in dict(model.named_modules()):
            model, target = self._fold(model, layer)
        self.model, self.target = model, target
        self.layout, self.inputs = resolve(model, layout, inputs, channels_first=True)
        #: the model's class names in logit order (``model.stviz_labels``), or None
        self.labels = _labels(self.user_model)
        modules = dict(model.named_modules())
        if layer not in modules:
            close = closest_names(layer, [m for m in modules if m])
            raise ValueError(
                f"the model has no layer {layer!r}; closest names: {', '.join(close) or 'none'} "
                f"({len(modules) - 1} layers in all, see model.named_modules())"
            )
        self.module = modules[target]
        first = next(iter(model.parameters()), None)
        self.dtype = first.dtype if first is not None else torch.float32
        self.device = first.device if first is not None else torch.device("cpu")
        self._closed, self._armed = False, False
        self._modes = [(m, m.training) for m in model.modules()]
        self._flags = [(p, p.requires_grad) for p in model.parameters()]
        self._hook = None
        try:
            model.eval()
            for p in model.parameters():
                p.requires_grad_(False)
            self._hook = self.module.register_forward_hook(self._capture)
            self.activation_shape, self.used_inputs = self._probe()
        except BaseException:
            self.close()
            raise

    # -- contract ---------------------------------------------------------------

    def activations(self, inputs, *, for_vjp=True):
        """Forward to the target layer; returns ``(N, ..., K)`` with channels last.

        ``for_vjp=False`` runs without recording a graph (activity recording):
        no :meth:`vjp` can follow that call.
        """
        torch = self.torch
        if not for_vjp:
            self._acts = None
            with torch.no_grad(), self._autocast():
                return _channels_last(self._forward(dict(inputs)), torch).to(self.dtype)
        self._leaves = {k: v.detach().requires_grad_(True) for k, v in inputs.items()}
        with torch.enable_grad(), self._autocast():
            out = self._forward(self._leaves)
        self._acts = _channels_last(out, torch).to(self.dtype)
        return self._acts.detach()

    def _autocast(self):
        import contextlib

        if self.autocast is None:
            return contextlib.nullcontext()
        return self.torch.autocast(self.device.type, dtype=getattr(self.torch, self.autocast))

    def vjp(self, cotangent):
        """Gradient of ``<A, cotangent>`` w.r.t. the inputs of the last ``activations`` call."""
        torch = self.torch
        leaves = list(self._leaves.values())
        try:
            grads = torch.autograd.grad(self._acts, leaves, grad_outputs=cotangent,
                                        allow_unused=True)
        except RuntimeError as exc:
            raise self._explained(exc) from None
        finally:
            self._acts = None
        return {k: torch.zeros_like(leaf) if g is None else g
                for (k, leaf), g in zip(self._leaves.items(), grads, strict=True)}

    def receptive_field(self):
        """``(rf, stride)`` of the target layer, from the model's structure."""
        size = max(max(s.shape[1:3]) for s in self.inputs.values())
        try:
            return receptive_field(self.model, self.target, size)
        except Exception as exc:  # an untraceable model still runs, with a warning
            warnings.warn(
                f"receptive field of {self.layer!r} unknown ({exc}); using rho = 1 and no "
                "jitter: pass rho= and stride= to set them", stacklevel=2)
            return None

    def describe(self):
        return {
            "model": type(self.user_model).__name__,
            "layer": self.layer,
            "folded_batch_norm": [list(p) for p in self.folded],
            "layout": self.layout.describe(self.inputs),
            "activation_shape": list(self.activation_shape),
            "autocast": self.autocast,
            "classes": None if self.labels is None else len(self.labels),
            "used_inputs": sorted(self.used_inputs),
            "torch": self.torch.__version__,
        }

    def close(self):
        """Remove the hook and restore modes and ``requires_grad`` flags (idempotent)."""
        if self._closed:
            return
        self._closed = True
        if self._hook is not None:
            self._hook.remove()
        for module, mode in self._modes:
            module.training = mode
        for p, flag in self._flags:
            p.requires_grad_(flag)
        self._leaves, self._acts = {}, None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- internals ------------------------------------------------------------------

    def _fold(self, model, layer):
        self.folded = fold_pairs(model)
        if not self.folded:
            return model, layer
        conv_of = {bn: conv for conv, bn in self.folded}
        return fold_batch_norm(model), conv_of.get(layer, layer)

    def _capture(self, module, args, output):
        if not self._armed:  # someone else runs the model (tracing, the user's own calls)
            return None
        if not isinstance(output, self.torch.Tensor):
            raise TypeError(
                f"layer {self.layer!r} returns {type(output).__name__}, not a tensor; "
                "pick a layer whose output is one tensor"
            )
        self._captured = output
        raise _Stop

    def _forward(self, leaves):
        # fresh contiguous copies (one per input): in-place ops in the model never touch the leaves
        args = [a.clone() if a.is_contiguous() else a.contiguous()
                for a in to_model(self.layout, leaves, self.xp)]
        self._captured, self._armed = None, True
        try:
            self.model(*args)
        except _Stop:
            return self._captured
        finally:
            self._armed = False
        raise RuntimeError(
            f"the forward pass never reached layer {self.layer!r}: the model does not call "
            "this module for these inputs"
        )

    def _explained(self, exc):
        if "inplace operation" not in str(exc):
            return exc
        return RuntimeError(
            "the model modifies in place a tensor that autograd needs for the gradient "
            f"(below layer {self.layer!r}), e.g. `x += y` or `x.add_(y)` on the output "
            "of a ReLU or of another op that saves its result; write it as `x = x + y` "
            f"(torch said: {str(exc).splitlines()[0]})"
        )

    def _probe(self):
        """One forward and backward pass on zeros: the activation shape, and the names of the
        inputs the target layer depends on (through the autograd graph)."""
        torch = self.torch
        leaves = {k: torch.zeros((1, *s.shape), dtype=self.dtype, device=self.device,
                                 requires_grad=True) for k, s in self.inputs.items()}
        try:
            with torch.enable_grad(), self._autocast():
                out = self._forward(leaves)
        except RuntimeError as exc:
            if "never reached" in str(exc):
                raise
            raise ValueError(
                f"the model cannot take inputs {self.layout.describe(self.inputs)} "
                f"(canonical {{{', '.join(f'{k}: {s.shape}' for k, s in self.inputs.items())}}} "
                f"as (T, H, W, C)); the model said: {str(exc).splitlines()[0]}"
            ) from None
        shape = tuple(_channels_last(out, torch).shape)
        if not out.requires_grad:
            return shape, set(self.inputs)
        try:
            grads = torch.autograd.grad(out.sum(), list(leaves.values()), allow_unused=True)
        except RuntimeError as exc:
            raise self._explained(exc) from None
        return shape, {k for k, g in zip(leaves, grads, strict=True) if g is not None}


def _labels(model):
    labels = getattr(model, "stviz_labels", None)
    return None if labels is None else tuple(str(label) for label in labels)


def _channels_last(out, torch):
    if out.ndim <= 2:
        return out
    order = (0, *range(2, out.ndim), 1)
    return out.permute(order)
