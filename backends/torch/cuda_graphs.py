"""CUDA graphs of the forward pass to the target layer and of its input gradient (``cuda_graphs=True``).

One ascent step of a small network at a small batch is bound by kernel
launches, not by the GPU's arithmetic. :class:`GraphCache` captures the
backend's forward function (the model run to the target layer, early exit
included) and its backward with :func:`torch.cuda.make_graphed_callables`:
a replay is one launch per pass. Each set of input shapes and dtypes gets its
own capture; the captures hold static input, output and gradient buffers, so
what a replay returns is copied before it is handed out.
"""

from __future__ import annotations

import warnings

__all__ = ["check_device", "GraphCache"]


def check_device(device) -> None:
    """Raise ``ValueError`` unless ``device`` is a CUDA device."""
    if getattr(device, "type", str(device)) != "cuda":
        raise ValueError(f"cuda_graphs needs a CUDA device; the model is on {device}")


class GraphCache:
    """Graphed versions of ``forward``, one per input signature, captured on first use.

    Parameters
    ----------
    forward : callable
        ``forward({name: tensor}) -> tensor``: the target layer's output; differentiable, the
        same CUDA work on every call for inputs of one shape (no host synchronization).
    context : callable
        Returns the context manager every capture and replay runs in (``torch.autocast`` with
        ``cache_enabled=False``, or a null context).
    describe : str
        What is captured, for error messages (e.g. ``"the forward pass to layer 'conv5'"``).
    """

    def __init__(self, forward, context, describe):
        self._forward, self._context, self._describe = forward, context, describe
        self._graphs = {}

    def __len__(self):
        return len(self._graphs)

    def __call__(self, leaves):
        """The target's output for ``{name: tensor}`` (tensors that require grad), through a replay.

        Differentiable w.r.t. the leaves (the backward replays the captured backward graph);
        the output is a fresh tensor, not the capture's static buffer.
        """
        import torch

        names = tuple(leaves)
        key = tuple((k, tuple(v.shape), v.dtype, v.device) for k, v in leaves.items())
        graphed = self._graphs.get(key)
        if graphed is None:
            graphed = self._graphs[key] = self._capture(names, leaves)
        with torch.enable_grad(), self._context():
            return graphed(*leaves.values()).clone()

    def clear(self):
        """Forget every capture (frees their memory pools once nothing else refers to them)."""
        self._graphs.clear()

    def _capture(self, names, leaves):
        import torch

        forward = self._forward

        def run(*xs):
            return forward(dict(zip(names, xs, strict=True)))

        samples = tuple(v.detach().clone().requires_grad_(True) for v in leaves.values())
        try:
            with torch.enable_grad(), self._context(), warnings.catch_warnings():
                # the samples' gradient accumulators outlive the warm-up on a side stream; the
                # capture asks for input gradients (autograd.grad), it accumulates nothing
                warnings.filterwarnings("ignore", message="The AccumulateGrad node's stream")
                return torch.cuda.make_graphed_callables(run, samples, allow_unused_input=True)
        except Exception as exc:
            shapes = ", ".join(f"{k}: {tuple(v.shape)}" for k, v in leaves.items())
            raise RuntimeError(
                f"capturing {self._describe} as a CUDA graph failed for inputs {{{shapes}}}: the "
                "model may synchronize with the host (.item(), printing a tensor, data-dependent "
                "shapes) or run differently from call to call; use cuda_graphs=False (torch said: "
                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
            ) from exc
