"""The PyTorch backend: a forward hook on the target layer, early exit, and one VJP per step.

While a :class:`TorchBackend` is open the model is in eval mode, its parameters
do not require gradients (nothing is accumulated in ``.grad``), and a forward
hook sits on the target layer. :meth:`TorchBackend.close` (also run by
``with``, by :func:`stviz_core.visualize` and when construction fails) removes
the hook and restores every module's mode and every parameter's
``requires_grad``. Weights and buffers are never written: batch-norm folding
and the channels-last memory format (:mod:`.memory_format`) work on a copy.
CUDA graphs (:mod:`.cuda_graphs`) replay the forward and backward pass.
"""

from __future__ import annotations

import warnings

from stviz_core.layouts import resolve, to_model
from stviz_core.names import closest_names

from . import memory_format as _mf
from .bn_folding import fold_batch_norm, fold_pairs
from .cuda_graphs import GraphCache, check_device
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
    channels_last : {None, True, False}
        Run the convolutions in channels-last memory format (``torch.channels_last``
        for ``nn.Conv2d`` weights and 4-D model arguments, ``torch.channels_last_3d``
        for ``nn.Conv3d`` weights and 5-D arguments), which cuDNN runs fastest.
        ``None`` (default): on when the model is on a CUDA device and has such
        convolutions, off otherwise. The weights are converted on a copy of the
        model (the BN-folded copy when there is one). At construction the
        converted model's target output and input gradient on one random input
        are compared with the contiguous model's; when it fails or differs (e.g.
        a ``.view()`` on a convolution's output) the contiguous format is used:
        silently for ``None``, with a ``UserWarning`` giving the reason for ``True``.
        What was used is ``describe()["channels_last"]``.
    cuda_graphs : bool
        Capture the forward pass to the target layer and its backward as CUDA
        graphs (``torch.cuda.make_graphed_callables``) and replay them each step:
        one launch per pass instead of one per kernel, for launch-bound runs
        (small batches, small networks). Each new set of input shapes and dtypes
        is captured on first use. ``activations(..., for_vjp=False)`` stays eager.
        Needs a CUDA model; the model must not synchronize with the host before
        the target layer.

    Device and dtype follow the model's first parameter (CPU float32 for a
    model without any).

    Raises
    ------
    ValueError
        For an unknown layer, option value, inputs the model cannot take, or
        ``cuda_graphs=True`` on a model that is not on a CUDA device.
    """

    name = "torch"

    def __init__(self, model, layer, *, inputs=None, layout=None, fold_batch_norm=True,
                 autocast=None, channels_last=None, cuda_graphs=False):
        import torch
        from array_api_compat import torch as xp

        self.torch, self.xp, self.user_model, self.layer = torch, xp, model, layer
        if autocast not in (None, "bfloat16", "float16"):
            raise ValueError(f"unknown autocast {autocast!r}; valid choices: None, 'bfloat16', "
                             "'float16'")
        if channels_last not in (None, True, False):
            raise ValueError(f"unknown channels_last {channels_last!r}; valid choices: None "
                             "(automatic: on for CUDA models with convolutions), True, False")
        if cuda_graphs not in (True, False):
            raise ValueError(f"unknown cuda_graphs {cuda_graphs!r}; valid choices: True, False")
        self.autocast = autocast
        self.folded = []
        #: which call of the target module is visualized (``layer="name:k"``), None for its only one
        name, self.call = split_call(layer, dict(model.named_modules()))
        target = name
        if fold_batch_norm and name in dict(model.named_modules()):
            model, target = self._fold(model, name)
        self.layout, self.inputs = resolve(model, layout, inputs, channels_first=True)
        #: the model's class names in logit order (``model.stviz_labels``), or None
        self.labels = _labels(self.user_model)
        modules = dict(model.named_modules())
        if name not in modules:
            close = closest_names(name, [m for m in modules if m])
            raise ValueError(
                f"the model has no layer {layer!r}; closest names: {', '.join(close) or 'none'} "
                f"({len(modules) - 1} layers in all, see model.named_modules())"
            )
        first = next(iter(model.parameters()), None)
        #: the model's dtype; the kernel's arrays (``dtype``) are float32 for a 16-bit model: its
        #: state and penalties would overflow (float16) or not convert to numpy (bfloat16)
        self.model_dtype = first.dtype if first is not None else torch.float32
        self.dtype = (torch.float32 if self.model_dtype in (torch.float16, torch.bfloat16)
                      else self.model_dtype)
        self._compute_dtype = None  # the model's dtype while the memory formats are compared
        self.device = first.device if first is not None else torch.device("cpu")
        if cuda_graphs:
            check_device(self.device)
        #: whether the convolutions run in channels-last memory format (decided at construction)
        self.channels_last, self.channels_last_reason = False, None
        #: whether the forward and backward pass replay CUDA graphs
        self.cuda_graphs = bool(cuda_graphs)
        self._graphs = None
        self._closed, self._armed, self._counting, self._calls = False, False, False, 0
        self._modes, self._flags, self._hook = [], [], None
        self.model = self.target = self.module = None
        try:
            work = self._working_model(model, channels_last)
            self._attach(model if work is None else work, target)
            self.activation_shape, self.used_inputs = self._probe()
            if work is not None:
                self._try_channels_last(model, explicit=channels_last is True)
            if self.cuda_graphs and self._grad_flows:  # else there is no backward to capture
                self._graphs = GraphCache(self._forward, self._autocast,
                                          f"the forward pass to layer {layer!r}")
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
        if self._graphs is not None:
            out = self._graphs(self._leaves)
        else:
            with torch.enable_grad(), self._autocast():
                out = self._forward(self._leaves)
        self._acts = _channels_last(out, torch).to(self.dtype)
        return self._acts.detach()

    def _autocast(self):
        import contextlib

        if self.autocast is None:
            return contextlib.nullcontext()
        # CUDA graphs need autocast without its weight-cast cache (a capture must not keep it)
        return self.torch.autocast(self.device.type, dtype=getattr(self.torch, self.autocast),
                                   cache_enabled=not self.cuda_graphs)

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
        if self._graphs is not None:  # a replay's gradients live in the capture's static buffers
            grads = [None if g is None else g.clone() for g in grads]
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
            "model_dtype": str(self.model_dtype).removeprefix("torch."),
            "channels_last": bool(self.channels_last),
            "channels_last_reason": self.channels_last_reason,
            "cuda_graphs": self._graphs is not None,
            "classes": None if self.labels is None else len(self.labels),
            "used_inputs": sorted(self.used_inputs),
            "torch": self.torch.__version__,
        }

    def close(self):
        """Remove the hook and restore modes and ``requires_grad`` flags (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._detach()
        if self._graphs is not None:
            self._graphs.clear()
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

    def _attach(self, model, target):
        """Make ``model`` the one that runs: eval mode, no parameter gradients, the hook on ``target``
        (what :meth:`_detach` undoes)."""
        self._detach()
        self.model, self.target = model, target
        self.module = dict(model.named_modules())[target]
        self._modes = [(m, m.training) for m in model.modules()]
        self._flags = [(p, p.requires_grad) for p in model.parameters()]
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        self._hook = self.module.register_forward_hook(self._capture)

    def _detach(self):
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        for module, mode in self._modes:
            module.training = mode
        for p, flag in self._flags:
            p.requires_grad_(flag)
        self._modes, self._flags = [], []

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
                return _mf.copy_model(model, drop=_is_backend_hook)
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

    def _capture(self, module, args, output):
        if not self._armed:  # someone else runs the model (tracing, the user's own calls)
            return None
        self._calls += 1
        if self._counting or (self.call is not None and self._calls - 1 != self.call):
            return None
        if not isinstance(output, self.torch.Tensor):
            raise TypeError(
                f"layer {self.layer!r} returns {type(output).__name__}, not a tensor; "
                "pick a layer whose output is one tensor"
            )
        self._captured = output
        raise _Stop

    def _forward(self, leaves):
        # fresh copies (one per input, channels-last or contiguous): in-place ops in the model
        # never touch the leaves
        dtype = self._compute_dtype or self.model_dtype
        args = [_mf.argument(a if a.dtype == dtype else a.to(dtype), self.channels_last)
                for a in to_model(self.layout, leaves, self.xp)]
        self._captured, self._armed, self._calls = None, True, 0
        try:
            self.model(*args)
        except _Stop:
            return self._captured
        finally:
            self._armed = False
        if self.call is not None and self._calls:
            raise ValueError(f"layer {self.layer!r}: the module is called {self._calls} time"
                             f"{'s' if self._calls > 1 else ''} in one forward pass, so its calls "
                             f"are 0..{self._calls - 1}")
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
        self._grad_flows = None
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
        if self.call is None:
            self._refuse_shared(leaves)
        shape = tuple(_channels_last(out, torch).shape)
        #: whether the target's output depends on the inputs (False: nothing to differentiate)
        self._grad_flows = bool(out.requires_grad)
        if not out.requires_grad:
            return shape, set(self.inputs)
        try:
            grads = torch.autograd.grad(out.sum(), list(leaves.values()), allow_unused=True)
        except RuntimeError as exc:
            raise self._explained(exc) from None
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
            calls = ", ".join(f"{self.layer}:{k}" for k in range(self._calls))
            raise ValueError(
                f"layer {self.layer!r} is called {self._calls} times in one forward pass (a shared "
                f"module); stviz visualizes one call: name it, as one of {calls}")


def split_call(layer, modules):
    """``(module name, call)`` of ``layer``: ``"block:1"`` names the second call of module
    ``block`` (a module called more than once in ``forward``); a plain name has call None."""
    name, sep, call = layer.rpartition(":")
    if layer in modules or not sep or not call.isdigit() or name not in modules:
        return layer, None
    return name, int(call)


def _is_backend_hook(fn):
    """Whether ``fn`` is a :class:`TorchBackend`'s hook (another backend open on the same model)."""
    return getattr(fn, "__func__", None) is TorchBackend._capture


def _labels(model):
    labels = getattr(model, "stviz_labels", None)
    return None if labels is None else tuple(str(label) for label in labels)


def _channels_last(out, torch):
    if out.ndim <= 2:
        return out
    order = (0, *range(2, out.ndim), 1)
    return out.permute(order)
