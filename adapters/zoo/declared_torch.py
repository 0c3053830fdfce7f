"""PyTorch builds of :mod:`stviz_adapters.zoo.architectures` (ST-ResNet-50, BN-Inception, Inception-v3, I3D).

Every block is a module called in the forward pass, so any block or
operation can be a target layer (``rgb.res5c``, ``rgb.res5c.branch2c.conv``,
``Mixed_5c``); ``torch.fx`` traces the models, which is how receptive fields
and BN folding find their way through residual and inception branches.
Weights are He-initialized like :mod:`stviz_adapters.zoo.vgg_c3d_torch`; BN starts
at the identity (zero mean, unit variance, gamma 1, beta 0); :func:`load_weights`
sets trained arrays named as :func:`stviz_adapters.zoo.graph.weight_shapes` lists them.

TensorFlow's "SAME" padding (``p="same"``): a stride-1 convolution or pooling
pads ``k // 2`` itself (symmetric there, for odd windows); a strided
convolution's input is padded by :func:`same_pad` before it, and a strided max
pooling is :class:`SameMaxPool3d` (``ceil_mode`` with the front padding of
"SAME", exact for strides of 2, no padded copy). Sizes known only at run time
go through functions that ``torch.fx.wrap`` marks as leaves of the traced graph.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from . import architectures as A
from . import graph as G
from stviz_core.layouts import Clip3D, Layout, TwoStream2D
from stviz_core.model_contract import declare
from .vgg_c3d_torch import _he_init, _seeded

__all__ = ["build", "trained", "st_resnet50", "bn_inception_two_stream", "inception_v3_two_stream",
           "i3d", "GraphBlock", "load_weights", "SameMaxPool3d", "same_pad", "same_front"]


def same_pad(x, kernel, stride):
    """``x`` padded with zeros by TensorFlow's "SAME" padding for ``kernel`` and ``stride``.

    A clip comes out in ``channels_last_3d`` memory format, the format the
    trained 3D models run in (PyTorch's CPU max pooling is ten times faster
    there; the network after the first convolution keeps it).
    """
    pads = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride)):
        pads.extend(G.same_padding(size, k, s))  # F.pad lists the last axis first
    out = F.pad(x, pads)
    return out.contiguous(memory_format=torch.channels_last_3d) if out.dim() == 5 else out


def same_front(x, kernel, stride):
    """The front padding of TensorFlow's "SAME" per spatial axis of ``x``."""
    return tuple(G.same_padding(n, k, s)[0] for n, k, s in zip(x.shape[2:], kernel, stride))


def window_weights(x, window):
    """:func:`~stviz_adapters.zoo.graph.window_mean_weights` for ``x``'s positions, as a tensor like ``x``."""
    w = torch.from_numpy(G.window_mean_weights(tuple(x.shape[2:]), window))
    return w.to(device=x.device, dtype=x.dtype)


def checked_clip(x, minimum, name):
    """``x`` unchanged, after :func:`~stviz_adapters.zoo.graph.check_min_clip` on its ``(T, H, W)``."""
    G.check_min_clip(name, x.shape[2:], minimum)
    return x


for _name in ("same_pad", "same_front", "window_weights", "checked_clip"):
    torch.fx.wrap(_name)


class SameMaxPool3d(nn.MaxPool3d):
    """``nn.MaxPool3d`` with TensorFlow's "SAME" padding, for strides of 1 (odd windows) or 2.

    ``ceil_mode`` adds the back padding where "SAME" puts one more pixel at
    the back; the front padding is computed from the input at run time.
    """

    def __init__(self, kernel, stride):
        if any(not (s == 2 or (s == 1 and k % 2)) for k, s in zip(kernel, stride)):
            raise ValueError(f"SameMaxPool3d takes stride 2, or stride 1 with odd windows; got "
                             f"window {kernel}, stride {stride}")
        super().__init__(tuple(kernel), tuple(stride), ceil_mode=True)

    def forward(self, x):
        return F.max_pool3d(x, self.kernel_size, self.stride,
                            same_front(x, self.kernel_size, self.stride), ceil_mode=True)


class Scale(nn.Module):
    """Divides by ``by`` (an input convention inside the model)."""

    def __init__(self, by):
        super().__init__()
        self.by = by

    def forward(self, x):
        return x / self.by


class Add(nn.Module):
    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Concat(nn.Module):
    """Concatenation on channels; 3D maps concatenated channels-last, so the result is
    ``channels_last_3d`` (where the max pools that follow are fast), whatever the branches were."""

    def __init__(self, dims=2):
        super().__init__()
        self.dims = dims  # fixed at build time: torch.fx cannot read x.ndim

    def forward(self, *xs):
        if self.dims != 3:
            return torch.cat(xs, dim=1)
        return torch.cat([x.permute(0, 2, 3, 4, 1) for x in xs], dim=-1).permute(0, 4, 1, 2, 3)


class Mean(nn.Module):
    def forward(self, *xs):
        return torch.stack(xs, dim=0).mean(dim=0)


class GlobalAvgPool(nn.Module):
    """The mean over all positions; with ``window``, over all windows of that size (stride 1)."""

    def __init__(self, dims, window=None):
        super().__init__()
        self.axes = tuple(range(2, 2 + dims))  # fixed at build time: torch.fx cannot read x.ndim
        self.window = None if window is None else tuple(window)

    def forward(self, x):
        if self.window is None:
            return x.mean(dim=self.axes)
        return (x * window_weights(x, self.window)).sum(dim=self.axes)


def _same(op):
    """Inner (symmetric) padding of a "SAME" window of stride 1, refused for even windows."""
    k, s = op.params["k"], op.params["s"]
    if any(v % 2 == 0 for v, st in zip(k, s) if st == 1):
        raise ValueError(f"{op.name}: 'same' padding of stride 1 needs odd windows, got {k}")
    return tuple(0 if st > 1 else v // 2 for v, st in zip(k, s))


def _op_module(op, in_channels, dims):
    """The module of an :class:`~stviz_adapters.zoo.graph.Op` on inputs of ``in_channels``."""
    k, p = op.kind, op.params
    conv, bn = (nn.Conv2d, nn.BatchNorm2d) if dims == 2 else (nn.Conv3d, nn.BatchNorm3d)
    if k == "conv":
        pad = _same(op) if p["p"] == "same" else p["p"]
        return conv(in_channels[0], p["out"], p["k"], p["s"], pad, bias=bool(p.get("bias")))
    if k == "bn":
        module = bn(in_channels[0], eps=p["eps"])
        if not p.get("scale", True):
            module.weight.requires_grad_(False)  # no gamma: fixed to 1
        return module
    if k == "maxpool" and p["p"] == "same" and any(s > 1 for s in p["s"]):
        if dims != 3:
            raise ValueError(f"{op.name}: strided 'same' max pooling is written for 3D")
        return SameMaxPool3d(p["k"], p["s"])
    if k in ("maxpool", "avgpool"):
        pool = {("maxpool", 2): nn.MaxPool2d, ("maxpool", 3): nn.MaxPool3d,
                ("avgpool", 2): nn.AvgPool2d, ("avgpool", 3): nn.AvgPool3d}[k, dims]
        pad = _same(op) if p["p"] == "same" else p["p"]
        return pool(p["k"], p["s"], pad[0] if len(set(pad)) == 1 else pad)
    simple = {"relu": nn.ReLU, "add": Add, "mean": Mean}
    if k in simple:
        return simple[k]()
    if k == "concat":
        return Concat(dims)
    if k == "gap":
        return GlobalAvgPool(dims, p.get("window"))
    if k == "dense":
        return nn.Linear(in_channels[0], p["out"])
    if k == "scale":
        return Scale(p["by"])
    raise ValueError(f"unknown operation {k!r} in {op.name}")


def _padded_before(item):
    """``(kernel, stride)`` of a strided "SAME" convolution (its input is padded first), else None."""
    if isinstance(item, A.Op) and item.kind == "conv" and item.params["p"] == "same" \
            and any(s > 1 for s in item.params["s"]):
        return item.params["k"], item.params["s"]
    return None


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
                module, out = _op_module(item, ins, dims), G.out_channels(item, ins)
            parent, _, leaf = item.name.rpartition(".")
            self._namespace(parent).add_module(leaf, module)
            self._wiring.append((item.name, item.inputs, _padded_before(item)))
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
        for name, srcs, pad in self._wiring:
            args = [env[s] for s in srcs]
            if pad is not None:
                args = [same_pad(args[0], *pad)]
            env[name] = self.get_submodule(name)(*args)
        return env[name]


class FamilyNet(GraphBlock):
    """A whole :class:`~stviz_adapters.zoo.architectures.Net` (see :class:`TwoStreamNet`, :class:`ClipNet`)."""

    def __init__(self, net: A.Net):
        super().__init__(net.body, {k: c for k, c in net.inputs.items()}, net.dims)
        self.input_names = list(net.inputs)
        self._wiring = [(n, tuple(f"@{self.input_names.index(s)}" if s in net.inputs else s
                                  for s in srcs), pad) for n, srcs, pad in self._wiring]
        declare(self, layout=_layout(net), inputs=dict(net.stviz_inputs))
        self.family = net.name
        self.min_clip = net.min_clip
        if net.min_clip is not None:
            G.check_min_clip(net.name, next(iter(net.stviz_inputs.values()))[:3], net.min_clip)


def _layout(net):
    """The stviz layout of ``net.layout``: two 2D streams, two 3D clips (``two_stream_3d``), one clip."""
    if net.layout == "two_stream_3d":
        return Layout(tuple((name, "clip") for name in net.inputs))
    return TwoStream2D() if net.layout == "two_stream_2d" else Clip3D()


class TwoStreamNet(FamilyNet):
    """``model(rgb, flow)``: rgb ``(N, 3, H, W)``, flow ``(N, 2L, H, W)`` (3D: ``(N, C, T, H, W)`` each)."""

    def forward(self, rgb, flow):  # explicit arguments: torch.fx traces a fixed signature
        return super().forward(rgb, flow)


class ClipNet(FamilyNet):
    """``model(clip)``: clip ``(N, 3, T, H, W)``."""

    def forward(self, clip):
        if self.min_clip is not None:
            clip = checked_clip(clip, self.min_clip, self.family)
        return super().forward(clip)


def build(net: A.Net, *, seed=None) -> FamilyNet:
    """The PyTorch model of a declared architecture, eval mode, He-initialized (``seed``: reproducible)."""
    kind = TwoStreamNet if net.layout.startswith("two_stream") else ClipNet
    with _seeded(seed):
        return _he_init(kind(net)).eval()


def trained(family, *, path=None, dtype=torch.float32, **keywords) -> FamilyNet:
    """A family with trained weights, eval mode, ready for ``stviz_core.visualize``.

    Parameters
    ----------
    family : stviz_adapters.zoo.graph.TrainedFamily or str
        Or the name of the module ``stviz_adapters.zoo.<name>`` that holds its
        ``FAMILY`` (``"kinetics_i3d"``).
    path : str, optional
        The weight file; by default where the family's reader finds it.
    dtype : torch.dtype
    **keywords
        For the family's declaration (``frames=8, input_size=112``).

    Returns
    -------
    FamilyNet
        Declaring its layout, inputs, and the family's labels and preprocessing
        (``stviz_core.contract_of``); a 3D model in ``channels_last_3d`` memory format.
    """
    family = G.trained_family(family)
    net, weights = family.net(**keywords), family.read(path)
    kind = TwoStreamNet if net.layout.startswith("two_stream") else ClipNet
    model = load_weights(kind(net), weights)
    if net.dims == 3:
        model = model.to(memory_format=torch.channels_last_3d)
    model = model.to(dtype=dtype).eval()
    return declare(model, labels=family.labels, preprocess=family.preprocess)


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


def _slot(module, leaf, array):
    """``(tensor to fill, value)`` for a framework-neutral array (layout of :mod:`.graph`)."""
    if isinstance(module, nn.modules.conv._ConvNd):
        n = array.ndim - 2  # (*window, C_in, C_out) -> (C_out, C_in, *window)
        kernel = array.transpose(n + 1, n, *range(n)) if n >= 1 else array
        slots = {"kernel": (module.weight, kernel), "bias": (module.bias, array)}
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        slots = {"weight": (module.weight, array), "bias": (module.bias, array),
                 "mean": (module.running_mean, array), "var": (module.running_var, array)}
    elif isinstance(module, nn.Linear):
        if leaf == "kernel" and array.ndim > 2 and all(d == 1 for d in array.shape[:-2]):
            array = array.reshape(array.shape[-2:])  # a 1 x 1 x 1 convolution's kernel
        slots = {"kernel": (module.weight, array.T), "bias": (module.bias, array)}
    else:
        raise ValueError(f"layer of type {type(module).__name__} holds no weights")
    if leaf not in slots or slots[leaf][0] is None:
        raise ValueError(f"{type(module).__name__} has no {leaf!r} (it has {', '.join(slots)})")
    return slots[leaf]


@torch.no_grad()
def load_weights(model, weights: dict, *, prefix: str = ""):
    """Copy trained arrays into ``model``'s layers by their declared names; returns ``model``.

    Parameters
    ----------
    model : torch.nn.Module
        A declared model (:func:`build`) or any model with those module names.
    weights : dict of str to numpy.ndarray
        ``{"<layer>.<leaf>": array}`` in the framework-neutral layout of
        :mod:`stviz_adapters.zoo.graph` (a reader of a weight file gives it).
    prefix : str
        Put before every name (``"rgb."``: one tower of a two-stream model).

    Raises
    ------
    ValueError
        A layer the model lacks (closest names given), or an array of another
        shape than the model's (both shapes, e.g. of a ``width < 1`` model).
    """
    from stviz_core.names import closest_names

    modules = dict(model.named_modules())
    for name, array in weights.items():
        layer, leaf = G.split_weight_name(prefix + name)
        if layer not in modules:
            raise ValueError(f"the model has no layer {layer!r} for the weights' {name}; closest "
                             f"names: {', '.join(closest_names(layer, modules)) or 'none'}")
        try:
            target, value = _slot(modules[layer], leaf, np.asarray(array))
        except ValueError as exc:
            raise ValueError(f"layer {layer}: {exc}") from None
        if tuple(target.shape) != value.shape:
            raise ValueError(f"layer {layer}: the model's {leaf} is {tuple(target.shape)}, the "
                             f"weights' {value.shape}; load into a full-width (width=1) model")
        target.copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return model
