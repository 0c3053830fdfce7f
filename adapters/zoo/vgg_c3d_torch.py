"""PyTorch model families with the layer names of the paper, random initialization.

* :func:`vgg16_trunk`: VGG-16's convolutional trunk, ``conv1_1`` ... ``pool5``.
* :func:`two_stream_vgg16`: the two-stream fusion network of Feichtenhofer et
  al. (CVPR 2016) as the paper visualizes it: an appearance tower (``rgb.*``)
  and a motion tower (``flow.*``) of VGG-16 up to ``conv5_3``, their outputs
  concatenated and fused by a 3D convolution ``conv5_fusion``, 3D pooling
  ``pool5_fusion``, then ``fc6``, ``fc7`` and the class layer ``fc8``.
* :func:`c3d`: a C3D-style 3D convnet (Tran et al. 2015), ``conv1a`` ... ``pool5``,
  ``fc6``, ``fc7``, ``fc8``.

Weights are He-initialized (normal, fan-in, ReLU gain; zero biases), so random
units respond to their input at every depth. Every model carries ``stviz_layout`` and ``stviz_inputs`` so that
``stviz_core.visualize(model, layer, ...)`` needs no layout arguments. ``width``
scales every channel count (``width=1/16`` gives small models for tests and
CPU demos); the structure, names, receptive fields and strides stay those of the
full model. Convolutions are followed by separately named ReLUs (``relu5_3``):
target ``conv5_3`` for the pre-activation, ``relu5_3`` for the rectified output.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from stviz_core.layouts import Clip3D, TwoStream2D
from stviz_core.model_contract import declare

from .vgg_c3d import SMALL_BLOCKS, VGG16_BLOCKS, ch, pooled

__all__ = ["vgg16_trunk", "two_stream_vgg16", "c3d", "TwoStreamFusion", "VGG16_BLOCKS",
           "small_trunk", "two_stream_small"]

def vgg16_trunk(in_channels: int = 3, *, width: float = 1.0, pool5: bool = True,
                ceil_mode: bool = False) -> nn.Sequential:
    """VGG-16 convolutional layers with Caffe names (``conv1_1``, ``relu1_1``, ``pool1``, ...).

    ``ceil_mode=True`` matches Keras/Caffe ``padding='same'`` pooling.
    """
    layers = OrderedDict()
    c_in = in_channels
    for block, convs, channels in VGG16_BLOCKS:
        c_out = ch(channels, width)
        for i in range(1, convs + 1):
            layers[f"conv{block}_{i}"] = nn.Conv2d(c_in, c_out, 3, padding=1)
            layers[f"relu{block}_{i}"] = nn.ReLU(inplace=True)
            c_in = c_out
        if block < 5 or pool5:
            layers[f"pool{block}"] = nn.MaxPool2d(2, 2, ceil_mode=ceil_mode)
    return nn.Sequential(layers)


class TwoStreamFusion(nn.Module):
    """Appearance and motion VGG-16 towers fused after ``conv5_3`` (see module notes).

    ``forward(rgb, flow)`` takes rgb ``(N, 3, H, W)`` and flow ``(N, 2L, H, W)``
    (channels ``u1, v1, ..., uL, vL``) and returns class scores ``(N, classes)``.
    """

    def __init__(self, num_classes=101, *, width=1.0, flow_frames=10, input_size=224,
                 fc_width=None, tower=None):
        super().__init__()
        tower = vgg16_trunk if tower is None else tower
        self.rgb = tower(3, width=width, pool5=False)
        self.flow = tower(2 * flow_frames, width=width, pool5=False)
        c5 = [m for m in self.rgb.modules() if isinstance(m, nn.Conv2d)][-1].out_channels
        pools = sum(isinstance(m, nn.MaxPool2d) for m in self.rgb.modules())
        fc = ch(4096, width) if fc_width is None else fc_width
        self.conv5_fusion = nn.Conv3d(2 * c5, c5, kernel_size=3, padding=1)
        self.relu5_fusion = nn.ReLU(inplace=True)
        self.pool5_fusion = nn.MaxPool3d((1, 2, 2), (1, 2, 2))
        side = pooled(input_size, pools + 1)
        self.fc6 = nn.Linear(c5 * side * side, fc)
        self.relu6 = nn.ReLU(inplace=True)
        self.drop6 = nn.Dropout(0.5)
        self.fc7 = nn.Linear(fc, fc)
        self.relu7 = nn.ReLU(inplace=True)
        self.drop7 = nn.Dropout(0.5)
        self.fc8 = nn.Linear(fc, num_classes)
        # flatten: shape (C, T, H, W) flattened into fc6, for weight porting across layouts
        declare(self, layout=TwoStream2D(), flatten={"fc6": (c5, 1, side, side)},
                inputs={"rgb": (1, input_size, input_size, 3),
                        "flow": (flow_frames, input_size, input_size, 2)})

    def forward(self, rgb, flow):
        fused = torch.cat([self.rgb(rgb), self.flow(flow)], dim=1).unsqueeze(2)  # (N, C, 1, h, w)
        x = self.pool5_fusion(self.relu5_fusion(self.conv5_fusion(fused)))
        x = self.drop6(self.relu6(self.fc6(torch.flatten(x, 1))))
        x = self.drop7(self.relu7(self.fc7(x)))
        return self.fc8(x)


#: (block, channels, pooled after) of the small demo towers.
def small_trunk(in_channels: int = 3, *, width: float = 1.0, pool5: bool = False) -> nn.Sequential:
    """A five-convolution tower (``conv1`` ... ``conv5``, pools after the first three).

    The shape of VGG-16 with one 3x3 convolution per block and a fifth of its
    width: the towers of the small demo network.
    """
    layers = OrderedDict()
    c_in = in_channels
    for block, channels, pool_after in SMALL_BLOCKS:
        c_out = ch(channels, width)
        layers[f"conv{block}"] = nn.Conv2d(c_in, c_out, 3, padding=1)
        layers[f"relu{block}"] = nn.ReLU(inplace=True)
        if pool_after or (block == 5 and pool5):
            layers[f"pool{block}"] = nn.MaxPool2d(2, 2)
        c_in = c_out
    return nn.Sequential(layers)


def two_stream_small(num_classes=8, *, width=1.0, flow_frames=10, input_size=64, fc_width=128,
                     seed=None) -> TwoStreamFusion:
    """The small two-stream fusion network of the demo model (towers of :func:`small_trunk`).

    Same head as :func:`two_stream_vgg16` (``conv5_fusion``, ``pool5_fusion``,
    ``fc6``, ``fc7``, ``fc8``); towers ``rgb.conv1`` ... ``rgb.conv5`` and
    ``flow.conv1`` ... ``flow.conv5``.
    """
    with _seeded(seed):
        return _he_init(TwoStreamFusion(num_classes, width=width, flow_frames=flow_frames,
                                        input_size=input_size, fc_width=fc_width, tower=small_trunk))


def two_stream_vgg16(num_classes=101, *, width=1.0, flow_frames=10, input_size=224, seed=None,
                     fc_width=None) -> TwoStreamFusion:
    """The two-stream VGG-16 fusion network; ``seed`` makes the random weights reproducible."""
    with _seeded(seed):
        return _he_init(TwoStreamFusion(num_classes, width=width, flow_frames=flow_frames,
                                        input_size=input_size, fc_width=fc_width))


class C3D(nn.Module):
    """C3D-style 3D convnet: ``forward(clip)`` with clip ``(N, 3, T, H, W)``."""

    def __init__(self, num_classes=101, *, width=1.0, frames=16, input_size=112, fc_width=None):
        super().__init__()
        spec = (("1a", 64, (1, 2, 2)), ("2a", 128, 2), ("3a", 256, None), ("3b", 256, 2),
                ("4a", 512, None), ("4b", 512, 2), ("5a", 512, None), ("5b", 512, 2))
        c_in = 3
        self.feature_names = []
        for name, channels, pool in spec:
            c_out = ch(channels, width)
            self._add(f"conv{name}", nn.Conv3d(c_in, c_out, 3, padding=1))
            self._add(f"relu{name}", nn.ReLU(inplace=True))
            if pool is not None:
                pad = (0, 1, 1) if name[0] == "5" else 0
                self._add(f"pool{name[0]}", nn.MaxPool3d(pool, pool, padding=pad))
            c_in = c_out
        t = max(1, frames // 16)
        side = (pooled(input_size, 4) + 2 - 2) // 2 + 1
        fc = ch(4096, width) if fc_width is None else fc_width
        self.fc6 = nn.Linear(c_in * t * side * side, fc)
        self.relu6 = nn.ReLU(inplace=True)
        self.fc7 = nn.Linear(fc, fc)
        self.relu7 = nn.ReLU(inplace=True)
        self.fc8 = nn.Linear(fc, num_classes)
        declare(self, layout=Clip3D(), flatten={"fc6": (c_in, t, side, side)},
                inputs={"clip": (frames, input_size, input_size, 3)})

    def _add(self, name, module):
        self.add_module(name, module)
        self.feature_names.append(name)

    def forward(self, clip):
        for name in self.feature_names:
            clip = getattr(self, name)(clip)
        x = torch.flatten(clip, 1)
        return self.fc8(self.relu7(self.fc7(self.relu6(self.fc6(x)))))


def c3d(num_classes=101, *, width=1.0, frames=16, input_size=112, seed=None, fc_width=None) -> C3D:
    """A C3D-style network; ``frames`` must be a multiple of 16 (the temporal pooling)."""
    if frames % 16:
        raise ValueError(f"C3D pools time by 16 in all: frames must be a multiple of 16, got {frames}")
    with _seeded(seed):
        return _he_init(C3D(num_classes, width=width, frames=frames, input_size=input_size,
                            fc_width=fc_width))


def _he_init(model):
    """He (fan-in, ReLU) normal weights and zero biases: the signal keeps its scale with depth.

    PyTorch's default uniform init shrinks activations layer by layer, so a deep
    random net's units would barely depend on the input.
    """
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Conv3d, nn.Linear)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


class _seeded:
    """Seed torch's generator for model construction only, then restore its state."""

    def __init__(self, seed):
        self.seed = seed

    def __enter__(self):
        if self.seed is not None:
            self.state = torch.random.get_rng_state()
            torch.manual_seed(self.seed)

    def __exit__(self, *exc):
        if self.seed is not None:
            torch.random.set_rng_state(self.state)
