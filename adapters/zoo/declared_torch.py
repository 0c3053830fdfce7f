"""PyTorch builds of :mod:`stviz_adapters.zoo.architectures` (ST-ResNet-50, BN-Inception, Inception-v3, I3D).

Every block is a module called in the forward pass, so any block or
operation can be a target layer (``rgb.res5c``, ``rgb.res5c.branch2c.conv``,
``Mixed_5c``); ``torch.fx`` traces the models, which is how receptive fields
and BN folding find their way through residual and inception branches.
Weights are He-initialized like :mod:`stviz_adapters.zoo.vgg_c3d_torch`; BN starts
at the identity (zero mean, unit variance, gamma 1, beta 0).
"""

from __future__ import annotations

import torch
from torch import nn

from . import architectures as A
from stviz_core.layouts import Clip3D, TwoStream2D
from .vgg_c3d_torch import _he_init, _seeded

__all__ = ["build", "st_resnet50", "bn_inception_two_stream", "inception_v3_two_stream", "i3d",
           "GraphBlock"]


class Add(nn.Module):
    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Concat(nn.Module):
    def forward(self, *xs):
        return torch.cat(xs, dim=1)


class Mean(nn.Module):
    def forward(self, *xs):
        return torch.stack(xs, dim=0).mean(dim=0)


class GlobalAvgPool(nn.Module):
    def __init__(self, dims):
        super().__init__()
        self.axes = tuple(range(2, 2 + dims))  # fixed at build time: torch.fx cannot read x.ndim

    def forward(self, x):
        return x.mean(dim=self.axes)


def _op_module(op, in_channels, dims):
    """``(module, out channels)`` for an :class:`~stviz_adapters.zoo.architectures.Op`."""
    k, p = op.kind, op.params
    conv, bn = (nn.Conv2d, nn.BatchNorm2d) if dims == 2 else (nn.Conv3d, nn.BatchNorm3d)
    if k == "conv":
        return conv(in_channels[0], p["out"], p["k"], p["s"], p["p"], bias=False), p["out"]
    if k == "bn":
        return bn(in_channels[0], eps=p["eps"]), in_channels[0]
    if k == "relu":
        return nn.ReLU(), in_channels[0]
    if k in ("maxpool", "avgpool"):
        pool = {("maxpool", 2): nn.MaxPool2d, ("maxpool", 3): nn.MaxPool3d,
                ("avgpool", 2): nn.AvgPool2d, ("avgpool", 3): nn.AvgPool3d}[k, dims]
        return pool(p["k"], p["s"], p["p"]), in_channels[0]
    if k == "add":
        if len(set(in_channels)) != 1:
            raise ValueError(f"{op.name}: adding tensors of {in_channels} channels")
        return Add(), in_channels[0]
    if k == "mean":
        return Mean(), in_channels[0]
    if k == "concat":
        return Concat(), sum(in_channels)
    if k == "gap":
        return GlobalAvgPool(dims), in_channels[0]
    if k == "dense":
        return nn.Linear(in_channels[0], p["out"]), p["out"]
    raise ValueError(f"unknown operation {k!r} in {op.name}")


class GraphBlock(nn.Module):
    """Runs its items (operations and nested blocks) in order; returns the last one's output."""

    def __init__(self, body, in_channels: dict, dims: int):
        super().__init__()
        channels = dict(in_channels)
        self._wiring = []
        for item in body:
            ins = [channels[s] for s in item.inputs]
            if isinstance(item, A.Block):
                module = GraphBlock(item.body, {f"@{i}": c for i, c in enumerate(ins)}, dims)
                out = module.out_channels
            else:
                module, out = _op_module(item, ins, dims)
            parent, _, leaf = item.name.rpartition(".")
            self._namespace(parent).add_module(leaf, module)
            self._wiring.append((item.name, item.inputs))
            channels[item.name] = out
        self.out_channels = out

    def _namespace(self, path):
        """The (never called) container module for a dotted prefix such as ``rgb``."""
        node = self
        for part in filter(None, path.split(".")):
            if part not in node._modules:
                node.add_module(part, nn.Module())
            node = node._modules[part]
        return node

    def forward(self, *xs):
        env = {f"@{i}": x for i, x in enumerate(xs)}
        for name, srcs in self._wiring:
            env[name] = self.get_submodule(name)(*[env[s] for s in srcs])
        return env[name]


class FamilyNet(GraphBlock):
    """A whole :class:`~stviz_adapters.zoo.architectures.Net` (see :class:`TwoStreamNet`, :class:`ClipNet`)."""

    def __init__(self, net: A.Net):
        super().__init__(net.body, {k: c for k, c in net.inputs.items()}, net.dims)
        self.input_names = list(net.inputs)
        self._wiring = [(n, tuple(f"@{self.input_names.index(s)}" if s in net.inputs else s
                                  for s in srcs)) for n, srcs in self._wiring]
        self.stviz_layout = TwoStream2D() if net.layout == "two_stream_2d" else Clip3D()
        self.stviz_inputs = dict(net.stviz_inputs)
        self.family = net.name


class TwoStreamNet(FamilyNet):
    """``model(rgb, flow)``: rgb ``(N, 3, H, W)``, flow ``(N, 2L, H, W)``."""

    def forward(self, rgb, flow):  # explicit arguments: torch.fx traces a fixed signature
        return super().forward(rgb, flow)


class ClipNet(FamilyNet):
    """``model(clip)``: clip ``(N, 3, T, H, W)``."""

    def forward(self, clip):
        return super().forward(clip)


def build(net: A.Net, *, seed=None) -> FamilyNet:
    """The PyTorch model of a declared architecture, eval mode, He-initialized (``seed``: reproducible)."""
    kind = TwoStreamNet if net.layout == "two_stream_2d" else ClipNet
    with _seeded(seed):
        return _he_init(kind(net)).eval()


def st_resnet50(num_classes=101, *, width=1.0, input_size=224, flow_frames=10, seed=None):
    """Spatiotemporal ResNet-50 (:func:`stviz_adapters.zoo.architectures.st_resnet50`)."""
    return build(A.st_resnet50(num_classes, width=width, input_size=input_size,
                               flow_frames=flow_frames), seed=seed)


def bn_inception_two_stream(num_classes=101, *, width=1.0, input_size=224, flow_frames=5, seed=None):
    """TSN's two-stream BN-Inception (:func:`stviz_adapters.zoo.architectures.bn_inception_two_stream`)."""
    return build(A.bn_inception_two_stream(num_classes, width=width, input_size=input_size,
                                           flow_frames=flow_frames), seed=seed)


def inception_v3_two_stream(num_classes=101, *, width=1.0, input_size=299, flow_frames=10,
                            seed=None):
    """Two-stream Inception-v3 (:func:`stviz_adapters.zoo.architectures.inception_v3_two_stream`)."""
    return build(A.inception_v3_two_stream(num_classes, width=width, input_size=input_size,
                                           flow_frames=flow_frames), seed=seed)


def i3d(num_classes=400, *, width=1.0, input_size=224, frames=64, seed=None):
    """I3D on an RGB clip (:func:`stviz_adapters.zoo.architectures.i3d`)."""
    return build(A.i3d(num_classes, width=width, input_size=input_size, frames=frames), seed=seed)
