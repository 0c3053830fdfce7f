"""Keras 3 twins of :mod:`stviz_adapters.zoo.vgg_c3d_torch`, with the same layer names.

Same structures, same names (``rgb.conv1_1`` ... ``conv5_fusion``, ``fc8``;
``conv1a`` ... ``fc8``), channels-last layouts, and every layer built in one
dtype (``dtype="float64"`` for numerical comparisons: Keras' ``floatx`` does
not change a model already built). Weights are random (He normal, zero
biases) until :mod:`stviz_adapters.zoo.porting` copies a PyTorch twin's in, or
:func:`stviz_adapters.zoo.hed_weights_keras.load_hed_vgg16_keras` the trained trunk.
Three differences in spelling, not in function: 3D max pooling is
:func:`block_max_pooling_3d` (TensorFlow has no float64 MaxPool3D); C3D's ``pool5`` padding is an
explicit ``pad5`` zero padding (after a ReLU, zeros pad a max pooling exactly
like PyTorch's implicit padding), and the two-stream fusion stacks its towers
with ``concat`` and ``unsqueeze`` layers where PyTorch uses ``torch.cat``.
"""

from __future__ import annotations

import zlib

from stviz_core.layouts import Clip3D, Image2D, TwoStream2D
from stviz_core.model_contract import declare
from .vgg_c3d import SMALL_BLOCKS, VGG16_BLOCKS, ch, pooled

__all__ = ["vgg16_trunk", "two_stream_vgg16", "two_stream_small", "c3d", "block_max_pooling_3d"]


def block_max_pooling_3d(pool_size, name, dtype):
    """3D max pooling over non-overlapping blocks (stride = pool size, 'valid').

    TensorFlow's MaxPool3D has no float64 kernel; this layer takes the maximum
    over blocks with reshapes, in any dtype, and equals MaxPooling3D otherwise.
    """
    import keras

    return _block_pool_class(keras)(pool_size, name=name, dtype=dtype)


_BLOCK_POOL = {}


def _block_pool_class(keras):
    if "cls" in _BLOCK_POOL:
        return _BLOCK_POOL["cls"]

    @keras.saving.register_keras_serializable(package="stviz")
    class BlockMaxPooling3D(keras.layers.Layer):
        def __init__(self, pool_size, **kwargs):
            super().__init__(**kwargs)
            p = (pool_size,) * 3 if isinstance(pool_size, int) else tuple(pool_size)
            self.pool_size = self.strides = p

        def call(self, x):
            ops = keras.ops
            pt, ph, pw = self.pool_size
            n, t, h, w, c = x.shape
            t2, h2, w2 = t // pt, h // ph, w // pw
            x = x[:, : t2 * pt, : h2 * ph, : w2 * pw, :]
            x = ops.reshape(x, (-1, t2, pt, h2, ph, w2, pw, c))
            return ops.max(x, axis=(2, 4, 6))

        def compute_output_shape(self, shape):
            n, t, h, w, c = shape
            pt, ph, pw = self.pool_size
            return (n, t // pt, h // ph, w // pw, c)

        def get_config(self):
            return {**super().get_config(), "pool_size": self.pool_size}

    _BLOCK_POOL["cls"] = BlockMaxPooling3D
    return BlockMaxPooling3D


def he_normal(keras, seed, name):
    """He normal initializer seeded per layer (``None``: unseeded).

    One initializer with one int seed gives every layer of the same shape the
    same weights; mixing the layer's name into the seed keeps a seeded model
    reproducible without that.
    """
    layer_seed = None if seed is None else (seed * 1_000_003 + zlib.crc32(name.encode())) % 2**31
    return keras.initializers.HeNormal(seed=layer_seed)


def _layers(dtype, seed):
    import keras

    def conv(name):
        return {"name": name, "kernel_initializer": he_normal(keras, seed, name),
                "bias_initializer": "zeros", "dtype": dtype}

    return keras, keras.layers, conv


def _tower(x, prefix, width, pool5, ceil_mode, dtype, seed):
    keras, L, conv = _layers(dtype, seed)
    for block, convs, channels in VGG16_BLOCKS:
        c = ch(channels, width)
        for i in range(1, convs + 1):
            x = L.Conv2D(c, 3, padding="same", **conv(f"{prefix}conv{block}_{i}"))(x)
            x = L.ReLU(name=f"{prefix}relu{block}_{i}", dtype=dtype)(x)
        if block < 5 or pool5:
            x = L.MaxPooling2D(2, 2, padding="same" if ceil_mode else "valid",
                               name=f"{prefix}pool{block}", dtype=dtype)(x)
    return x


def _small_tower(x, prefix, width, pool5, ceil_mode, dtype, seed):
    keras, L, conv = _layers(dtype, seed)
    for block, channels, pool_after in SMALL_BLOCKS:
        x = L.Conv2D(ch(channels, width), 3, padding="same", **conv(f"{prefix}conv{block}"))(x)
        x = L.ReLU(name=f"{prefix}relu{block}", dtype=dtype)(x)
        if pool_after or (block == 5 and pool5):
            x = L.MaxPooling2D(2, 2, name=f"{prefix}pool{block}", dtype=dtype)(x)
    return x


def vgg16_trunk(in_channels=3, *, width=1.0, pool5=True, ceil_mode=False, input_size=224,
                dtype="float32", seed=None):
    """VGG-16 convolutional layers with Caffe names, input ``(N, H, W, in_channels)``."""
    keras, L, _ = _layers(dtype, seed)
    x = keras.Input((input_size, input_size, in_channels), name="rgb", dtype=dtype)
    model = keras.Model(x, _tower(x, "", width, pool5, ceil_mode, dtype, seed), name="vgg16_trunk")
    return declare(model, layout=Image2D(channels_first=False),
                   inputs={"rgb": (1, input_size, input_size, in_channels)})


def two_stream_vgg16(num_classes=101, *, width=1.0, flow_frames=10, input_size=224,
                     fc_width=None, dtype="float32", seed=None):
    """Two-stream VGG-16 fusion network: ``model([rgb, flow])``, rgb ``(N,H,W,3)``, flow ``(N,H,W,2L)``."""
    return _two_stream(_tower, 4, ch(512, width), num_classes, width, flow_frames, input_size,
                       ch(4096, width) if fc_width is None else fc_width, dtype, seed,
                       "two_stream_vgg16")


def two_stream_small(num_classes=8, *, width=1.0, flow_frames=10, input_size=64, fc_width=128,
                     dtype="float32", seed=None):
    """Twin of :func:`stviz_adapters.zoo.vgg_c3d_torch.two_stream_small` (the demo network)."""
    return _two_stream(_small_tower, 3, ch(64, width), num_classes, width, flow_frames,
                       input_size, fc_width, dtype, seed, "two_stream_small")


def _two_stream(tower, pools, c5, num_classes, width, flow_frames, input_size, fc, dtype, seed,
                name):
    keras, L, conv = _layers(dtype, seed)
    rgb = keras.Input((input_size, input_size, 3), name="rgb", dtype=dtype)
    flow = keras.Input((input_size, input_size, 2 * flow_frames), name="flow", dtype=dtype)
    a = tower(rgb, "rgb.", width, False, False, dtype, seed)
    m = tower(flow, "flow.", width, False, False, dtype, seed)
    side = pooled(input_size, pools)
    x = L.Concatenate(axis=-1, name="concat", dtype=dtype)([a, m])
    x = L.Reshape((1, side, side, 2 * c5), name="unsqueeze", dtype=dtype)(x)
    x = L.Conv3D(c5, 3, padding="same", **conv("conv5_fusion"))(x)
    x = L.ReLU(name="relu5_fusion", dtype=dtype)(x)
    x = block_max_pooling_3d((1, 2, 2), "pool5_fusion", dtype)(x)
    x = _head(x, num_classes, fc, dtype, seed, dropout=True)
    model = keras.Model([rgb, flow], x, name=name)
    return declare(model, layout=TwoStream2D(channels_first=False),
                   inputs={"rgb": (1, input_size, input_size, 3),
                           "flow": (flow_frames, input_size, input_size, 2)})


def _head(x, num_classes, fc, dtype, seed, dropout):
    keras, L, conv = _layers(dtype, seed)
    x = L.Flatten(name="flatten", dtype=dtype)(x)
    for i in (6, 7):
        x = L.Dense(fc, **conv(f"fc{i}"))(x)
        x = L.ReLU(name=f"relu{i}", dtype=dtype)(x)
        if dropout:
            x = L.Dropout(0.5, name=f"drop{i}", dtype=dtype)(x)
    return L.Dense(num_classes, **conv("fc8"))(x)


def c3d(num_classes=101, *, width=1.0, frames=16, input_size=112, fc_width=None,
        dtype="float32", seed=None):
    """C3D-style 3D convnet: ``model(clip)`` with clip ``(N, T, H, W, 3)``."""
    if frames % 16:
        raise ValueError(f"C3D pools time by 16 in all: frames must be a multiple of 16, got {frames}")
    keras, L, conv = _layers(dtype, seed)
    clip = keras.Input((frames, input_size, input_size, 3), name="clip", dtype=dtype)
    x = clip
    spec = (("1a", 64, (1, 2, 2)), ("2a", 128, 2), ("3a", 256, None), ("3b", 256, 2),
            ("4a", 512, None), ("4b", 512, 2), ("5a", 512, None), ("5b", 512, 2))
    for name, channels, pool in spec:
        x = L.Conv3D(ch(channels, width), 3, padding="same", **conv(f"conv{name}"))(x)
        x = L.ReLU(name=f"relu{name}", dtype=dtype)(x)
        if pool is not None:
            if name[0] == "5":
                x = L.ZeroPadding3D(((0, 0), (1, 1), (1, 1)), name="pad5", dtype=dtype)(x)
            x = block_max_pooling_3d(pool, f"pool{name[0]}", dtype)(x)
    x = _head(x, num_classes, ch(4096, width) if fc_width is None else fc_width, dtype, seed,
              dropout=False)
    model = keras.Model(clip, x, name="c3d")
    return declare(model, layout=Clip3D(channels_first=False),
                   inputs={"clip": (frames, input_size, input_size, 3)})
