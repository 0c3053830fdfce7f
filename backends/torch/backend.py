"""The PyTorch backend: a forward hook on the target layer, early exit, and one VJP per step.

While a :class:`TorchBackend` is open the model is in eval mode, its parameters
do not require gradients (nothing is accumulated in ``.grad``), and a forward
hook sits on the target layer. :meth:`TorchBackend.close` (also run by
``with``, by :func:`stviz_core.visualize` and when construction fails) removes
the hook and restores every module's mode and every parameter's
``requires_grad``. Weights and buffers are never written: batch-norm folding
and the channels-last memory format (:mod:`.memory_format`) work on a copy.
CUDA graphs (:mod:`.cuda_graphs`) replay the forward and backward pass.

The class is written by concern: this module holds construction, the contract
and the forward pass; :mod:`.probe` the forward hook, the probe at construction
and the count of a module's calls; :mod:`.channels_last_trial` the choice of
memory format. What the Keras backend shares with it (``"name:k"``, labels,
the 16-bit rule, messages) is :mod:`stviz_core.backend_support`.
"""

from __future__ import annotations

from stviz_core.backend_support import (call_out_of_range, class_labels, kernel_dtype, never_reached,
                                       receptive_field_unknown, split_call, unknown_layer)
from stviz_core.layouts import resolve, to_model

from . import memory_format as _mf
from .bn_folding import fold_batch_norm, fold_pairs
from .channels_last_trial import ChannelsLastTrial
from .cuda_graphs import GraphCache, check_device
from .fused_step import check_fused_step
from .kernel_hooks import KernelHooks
from .probe import ForwardProbe, Stop, channels_to_end
from .receptive_field import receptive_field
from .tokens import first_tensor, to_grid

__all__ = ["TorchBackend", "split_call"]


class TorchBackend(ForwardProbe, ChannelsLastTrial, KernelHooks):
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
    fused_step : {False, True, "inductor", "aot_eager"}
        Run the kernel's element-wise work of a step (the penalties and their gradients,
        Adam's update) as graphs compiled by ``torch.compile`` (True: ``"inductor"``;
        ``"aot_eager"`` captures the graph without generating code, quick to compile), each
        compiled once per run's shapes (:mod:`.fused_step`). Off by default: compiling takes
        seconds to a minute; it pays on long runs and large inputs.

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
                 autocast=None, channels_last=None, cuda_graphs=False, fused_step=False):
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
        if fold_batch_norm not in (True, False):
            raise ValueError(f"unknown fold_batch_norm {fold_batch_norm!r}; valid choices: True, False")
        self.autocast = autocast
        self.fused_step = check_fused_step(fused_step)
        self.folded = []
        #: which call of the target module is visualized (``layer="name:k"``), None for its only one
        name, self.call = split_call(layer, dict(model.named_modules()))
        target = name
        if fold_batch_norm and name in dict(model.named_modules()):
            model, target = self._fold(model, name)
        self.layout, self.inputs = resolve(model, layout, inputs, channels_first=True)
        #: the model's class names in logit order (``model.stviz_labels``), or None
        self.labels = class_labels(self.user_model)
        modules = dict(model.named_modules())
        if name not in modules:
            raise unknown_layer(layer, modules, "model.named_modules()")
        first = next(iter(model.parameters()), None)
        #: the model's dtype; the kernel's arrays (``dtype``) are float32 for a 16-bit model
        #: (:func:`stviz_core.backend_support.kernel_dtype`)
        self.model_dtype = first.dtype if first is not None else torch.float32
        self.dtype = getattr(torch, kernel_dtype(str(self.model_dtype).removeprefix("torch.")))
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
        #: whether the target's output is a token sequence mapped to its grid (layout.tokens)
        self.token_layer, self._clips = False, 1
        try:
            work = self._working_model(model, channels_last)
            self._attach(model if work is None else work, target)
            self.activation_shape, self.used_inputs = self._probe()
            if work is not None:
                self._try_channels_last(model, explicit=channels_last is True)
            if not self.channels_last and self.model is not self.user_model:
                _mf.contiguous_weights(self.model)  # our copy: no weight copied at every call
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
                return channels_to_end(self._forward(dict(inputs))).to(self.dtype)
        self._leaves = {k: v.detach().requires_grad_(True) for k, v in inputs.items()}
        if self._graphs is not None:
            out = self._graphs(self._leaves)
        else:
            with torch.enable_grad(), self._autocast():
                out = self._forward(self._leaves)
        self._acts = channels_to_end(out).to(self.dtype)
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
        if self.layout.tokens is not None:  # every token sees the whole clip (.tokens)
            pooled = len(self.activation_shape) == 2
            return self.layout.tokens.receptive_field(size, self.token_layer or pooled)
        try:
            return receptive_field(self.model, self.target, size)
        except Exception as exc:  # an untraceable model still runs, with a warning
            receptive_field_unknown(self.layer, exc)
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
            "fused_step": self.fused_step,
            "classes": None if self.labels is None else len(self.labels),
            "used_inputs": sorted(self.used_inputs),
            "torch": self.torch.__version__,
            "threads": self.threads_record,
            "step_flops": self.step_flops,
        }

    def close(self):
        """Remove the hook and restore modes and ``requires_grad`` flags (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._restore_threads()
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

    def _token_output(self, output):
        """``output`` with a transformer's tokens mapped to their ``(N, C, T', H', W')`` grid
        (:func:`.tokens.to_grid`) when the layout declares a token grid; else ``output``."""
        if self.layout.tokens is None:
            return output
        output = first_tensor(output)
        if not isinstance(output, self.torch.Tensor):
            return output
        mapped = to_grid(output, self.layout.tokens, self.target, self._clips)
        self.token_layer = mapped is not output
        return mapped

    def _forward(self, leaves):
        # fresh copies (one per input, channels-last or contiguous): in-place ops in the model
        # never touch the leaves
        dtype = self._compute_dtype or self.model_dtype
        self._clips = next(iter(leaves.values())).shape[0]
        args = [_mf.argument(a if a.dtype == dtype else a.to(dtype), self.channels_last)
                for a in to_model(self.layout, leaves, self.xp)]
        self._captured, self._armed, self._calls = None, True, 0
        try:
            self.model(*args)
        except Stop:
            return self._captured
        finally:
            self._armed = False
        if self.call is not None and self._calls:
            raise call_out_of_range(self.layer, self._calls, "in one forward pass", "module")
        raise never_reached(self.layer)

    def _explained(self, exc):
        if "inplace operation" not in str(exc):
            return exc
        return RuntimeError(
            "the model modifies in place a tensor that autograd needs for the gradient "
            f"(below layer {self.layer!r}), e.g. `x += y` or `x.add_(y)` on the output "
            "of a ReLU or of another op that saves its result; write it as `x = x + y` "
            f"(torch said: {str(exc).splitlines()[0]})"
        )
