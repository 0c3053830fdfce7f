"""A hand-tuned PyTorch loop doing the work of stviz's paper preset: the yardstick of issue #19.

``benchmarks/gpu_perf.py`` times :func:`stviz_core.visualize` against :class:`TunedLoop`
on the full two-stream VGG-16. Each step of the loop, for N units of one layer at once:

* jitter: every input rolled by one ``(dy, dx)`` in ``0..stride`` (the layer's cumulative
  stride), the same offset for the whole batch and both streams (one roll per input);
* the forward pass to the target layer, ended there by a forward hook that raises a
  ``BaseException`` subclass (nothing past the layer runs);
* eq. 1: unit ``n`` is channel ``c_n`` summed over all locations, divided by ``rho^2``
  (``rho`` the layer's receptive field; ``a_hat = 1``, no automatic scale);
* eq. 2 and 3 with the preset's weights: the norm term ``lambda_B sum |x|^alpha`` and total
  variation ``lambda_TV (kappa (dx^2 + dy^2) + gamma dt^2)`` per input, through autograd;
* Adam (PyTorch's, one second moment per entry; stviz shares it over each pixel's channels,
  same cost class) with the learning rate decreasing geometrically from 8 to 0.8;
* every pixel vector scaled back inside the hard bound ``B``.

What makes it hand-tuned: the model's 2D and 3D convolution weights in channels_last
(``channels_last_3d``) memory format, on a copy of the model; the inputs kept pixel-major,
so that the model's arguments are channels_last views of them with no copy (a flow stack
``(N, H, W, L, 2)`` is the argument ``(N, 2L, H, W)`` with channels ``u1, v1, ...``);
cuDNN's benchmark mode while it runs; bf16 autocast when asked; the fused Adam on CUDA;
no host synchronization inside the loop (offsets drawn beforehand, learning rates are
Python floats). It runs on any device; the CPU is for testing it small.

The model must carry ``stviz_layout`` (channels first) and ``stviz_inputs``, as the
models of ``stviz_adapters.zoo`` do.
"""

from __future__ import annotations

import copy

import numpy as np
import torch

import stviz_core as sv
from stviz_core.layouts import to_model
from stviz_adapters.structure import receptive_field

__all__ = ["TunedLoop", "conv_macs", "LAYER"]

LAYER = "conv5_fusion"


class _Exit(BaseException):
    """Raised by the target layer's hook: the rest of the forward pass is not needed."""


def _stop_after(module, store=None):
    def hook(mod, args, out):
        if store is not None:
            store["out"] = out
        raise _Exit

    return module.register_forward_hook(hook)


# stored layout of each input kind, from the canonical (N, T, H, W, C):
#   image   (N, H, W, C)      model argument p.permute(0, 3, 1, 2)
#   stacked (N, H, W, T, 2)   model argument p.reshape(N, H, W, 2T).permute(0, 3, 1, 2)
#   clip    (N, T, H, W, C)   model argument p.permute(0, 4, 1, 2, 3)
_SPATIAL = {"image": (1, 2), "stacked": (1, 2), "clip": (2, 3)}
_TIME = {"image": None, "stacked": 3, "clip": 1}


def _stored(kind, n, shape):
    t, h, w, c = shape
    return {"image": (n, h, w, c), "stacked": (n, h, w, t, c), "clip": (n, t, h, w, c)}[kind]


def _argument(kind, p):
    if kind == "image":
        return p.permute(0, 3, 1, 2)
    if kind == "stacked":
        n, h, w, t, c = p.shape
        return p.reshape(n, h, w, t * c).permute(0, 3, 1, 2)
    return p.permute(0, 4, 1, 2, 3)


def _canonical(kind, p):
    if kind == "image":
        return p.unsqueeze(1)
    if kind == "stacked":
        return p.permute(0, 3, 1, 2, 4)
    return p


def _layout(model):
    """The model's layout and ``{name: InputSpec}``, checked to be channels first."""
    layout = model.stviz_layout
    if not layout.channels_first:
        raise ValueError("the tuned loop takes PyTorch (channels-first) layouts only")
    specs = layout.specs(model.stviz_inputs)
    return layout, specs


def conv_macs(model, layer=LAYER):
    """Multiply-adds of the convolutions of one forward pass to ``layer`` (one unit, early exit).

    Counted from every Conv2d/Conv3d's output size times its kernel volume and input channels
    per group (padding included, as cuDNN computes it). The backward pass to the inputs costs
    about as much again.
    """
    layout, specs = _layout(model)
    dev = next(model.parameters()).device
    zeros = {k: torch.zeros((1, *s.shape), device=dev) for k, s in specs.items()}
    total = [0]

    def count(m, args, out):
        total[0] += out.numel() * int(np.prod(m.kernel_size)) * (m.in_channels // m.groups)

    hooks = [m.register_forward_hook(count) for m in model.modules()
             if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Conv3d))]
    hooks.append(_stop_after(dict(model.named_modules())[layer]))  # after the counters
    try:
        with torch.no_grad():
            model(*to_model(layout, zeros, _xp()))
    except _Exit:
        pass
    finally:
        for h in hooks:
            h.remove()
    return total[0]


def _xp():
    from array_api_compat import torch as xp

    return xp


class TunedLoop:
    """The hand-tuned ascent on a copy of ``model`` (the model itself is left as it is).

    Parameters
    ----------
    model : torch.nn.Module
        With ``stviz_layout`` and ``stviz_inputs``; on the device the loop runs on.
    layer : str
        The target module's qualified name.
    channels_last : bool
        Convolution weights in channels_last memory format (else the model's own, and the
        arguments made contiguous each step, as a plain loop would).
    cudnn_benchmark : bool
        ``torch.backends.cudnn.benchmark`` while :meth:`run` runs (restored after).
    preset : stviz_core.presets.Preset, optional
        Its weights, bound, init scale and learning rates; :func:`stviz_core.presets.paper`.
    """

    def __init__(self, model, layer=LAYER, *, channels_last=True, cudnn_benchmark=True,
                 preset=None):
        self.layout, self.specs = _layout(model)
        self.kinds = dict(self.layout.streams)
        self.names = [name for name, _ in self.layout.streams]
        self.preset = preset or sv.presets.paper()
        shape = self.specs[self.names[0]].shape
        self.rho, self.stride = receptive_field(model, layer, max(shape[1], shape[2]))
        self.channels_last, self.cudnn_benchmark = channels_last, cudnn_benchmark
        net = copy.deepcopy(model).eval()
        for p in net.parameters():
            p.requires_grad_(False)
        if channels_last:
            for m in net.modules():
                if isinstance(m, torch.nn.Conv2d):
                    m.to(memory_format=torch.channels_last)
                elif isinstance(m, torch.nn.Conv3d):
                    m.to(memory_format=torch.channels_last_3d)
        self.net = net
        self.device = next(net.parameters()).device
        self._store = {}
        self._hook = _stop_after(dict(net.named_modules())[layer], self._store)

    def close(self):
        self._hook.remove()

    def _args(self, x):
        args = [_argument(self.kinds[k], x[k]) for k in self.names]
        if not self.channels_last:
            args = [a.contiguous() for a in args]
        return args

    def _objective(self, x, idx, ch):
        """Eq. 1 per unit ``(N,)`` at ``x``: channel ``ch[n]`` of item ``n``, summed, / rho^2."""
        self._store.clear()
        try:
            self.net(*self._args(x))
        except _Exit:
            pass
        a = self._store.pop("out").float()  # (N, K, ...) channels first
        return a[idx, ch].reshape(len(ch), -1).sum(1) / float(self.rho) ** 2

    def run(self, channels, steps, *, seed=0, autocast=None):
        """Optimize one input set per unit of ``channels`` for ``steps`` steps.

        Parameters
        ----------
        channels : sequence of int
        steps : int
        seed : int
            Initial noise (a torch generator on the device) and the jitter offsets (numpy).
        autocast : {None, "bfloat16"}
            Forward and backward under ``torch.autocast`` in bf16; the inputs stay float32.

        Returns
        -------
        dict
            ``inputs``: ``{name: (N, T, H, W, C)}`` canonical views of the final inputs;
            ``objective``: eq. 1 per unit at the final inputs, without jitter ``(N,)``.
            Both on the device, unsynchronized.
        """
        dev, pre, n = self.device, self.preset, len(channels)
        gen = torch.Generator(device=dev).manual_seed(seed)
        x, regs = {}, {}
        for k in self.names:
            spec = self.specs[k]
            reg = pre.for_role(spec.role)
            amp = pre.init_scale * reg.bound / np.sqrt(spec.shape[-1])
            noise = torch.rand(_stored(self.kinds[k], n, spec.shape), generator=gen, device=dev)
            x[k] = ((noise * 2 - 1) * amp).requires_grad_(True)
            regs[k] = (reg, *reg.weights(spec.shape))
        jump = np.random.default_rng(seed).integers(0, self.stride, size=(steps, 2), endpoint=True)
        rate = pre.learning_rate
        fused = {"fused": True} if dev.type == "cuda" else {}
        opt = torch.optim.Adam([x[k] for k in self.names], lr=rate(0, steps), **fused)
        idx = torch.arange(n, device=dev)
        ch = torch.as_tensor(list(channels), device=dev)
        cast = torch.autocast(dev.type, dtype=torch.bfloat16, enabled=autocast is not None)
        if autocast not in (None, "bfloat16"):
            raise ValueError(f"autocast is None or 'bfloat16', got {autocast!r}")
        previous = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = self.cudnn_benchmark
        try:
            for step in range(steps):
                shift = (int(jump[step, 0]), int(jump[step, 1]))
                moved = {k: torch.roll(v, shift, dims=_SPATIAL[self.kinds[k]]) for k, v in x.items()}
                with cast:
                    unit = self._objective(moved, idx, ch)
                loss = -unit.sum()
                for k, v in x.items():
                    reg, lam_n, lam_tv = regs[k]
                    loss = loss + lam_n * (v * v).sum(-1).pow(reg.alpha / 2).sum()
                    h, w = _SPATIAL[self.kinds[k]]
                    tv = reg.kappa * ((v.diff(dim=h) ** 2).sum() + (v.diff(dim=w) ** 2).sum())
                    t = _TIME[self.kinds[k]]
                    if t is not None and reg.gamma and v.shape[t] > 1:
                        tv = tv + reg.gamma * (v.diff(dim=t) ** 2).sum()
                    loss = loss + lam_tv * tv
                opt.zero_grad(set_to_none=True)
                loss.backward()
                for group in opt.param_groups:
                    group["lr"] = rate(step, steps)
                opt.step()
                with torch.no_grad():
                    for k, v in x.items():
                        bound = regs[k][0].bound
                        norm = (v * v).sum(-1, keepdim=True).sqrt_()
                        v.mul_(torch.clamp(bound / norm.clamp_min_(1e-12), max=1.0))
            with torch.no_grad(), cast:
                final = self._objective(x, idx, ch)
        finally:
            torch.backends.cudnn.benchmark = previous
        return {"inputs": {k: _canonical(self.kinds[k], v.detach()) for k, v in x.items()},
                "objective": final}
