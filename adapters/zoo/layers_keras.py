"""Keras layers for the declared operations Keras lacks (:mod:`.declared_keras` builds with them).

* :class:`SameMaxPool3D`: max pooling with TensorFlow's "SAME" padding in
  ``keras.ops``, for float64 (TensorFlow has no float64 ``MaxPool3D`` kernel;
  the same values as ``MaxPooling3D`` in float32);
* :class:`InputScale`: divides by a constant (``Rescaling`` rounds its factor
  to float32, which float64 models cannot afford);
* :class:`HeadMean`: the mean over all windows of ``window`` positions, stride 1
  (:func:`stviz_adapters.zoo.graph.window_mean_weights`).

They are registered for ``.keras`` files under the package name they had in
:mod:`.kinetics_i3d_keras` (``stviz_kinetics_i3d``).
"""

from __future__ import annotations

import keras
from keras import layers, ops

from .graph import same_padding, window_mean_weights

__all__ = ["SameMaxPool3D", "InputScale", "HeadMean"]

#: the input scale of the Kinetics-400 I3D, the default of a file saved before ``by`` existed
_KINETICS_INPUT_SCALE = 127.5
_KINETICS_HEAD_WINDOW = (2, 7, 7)


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
        pads = [(0, 0), *(same_padding(n, k, s) for n, k, s in
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
    """Divides its input by ``by`` (an input convention inside the model)."""

    def __init__(self, by=_KINETICS_INPUT_SCALE, **kwargs):
        super().__init__(**kwargs)
        self.by = by

    def call(self, x):
        return x / self.by

    def compute_output_shape(self, shape):
        return shape

    def get_config(self):
        return {**super().get_config(), "by": self.by}


@keras.saving.register_keras_serializable(package="stviz_kinetics_i3d")
class HeadMean(layers.Layer):
    """The mean over all windows of ``window`` positions: ``(N, T, H, W, C)`` -> ``(N, C)``.

    The weights follow from the static map size (:func:`~stviz_adapters.zoo.graph.window_mean_weights`).
    """

    #: a receptive-field walk gives this layer the whole input
    sees_whole_input = True

    def __init__(self, window=_KINETICS_HEAD_WINDOW, **kwargs):
        super().__init__(**kwargs)
        self.window = tuple(window)

    def call(self, x):
        weights = window_mean_weights(tuple(x.shape[1:4]), self.window)[..., None]
        return ops.sum(x * ops.convert_to_tensor(weights, dtype=x.dtype), axis=(1, 2, 3))

    def compute_output_shape(self, shape):
        return (shape[0], shape[4])

    def get_config(self):
        return {**super().get_config(), "window": self.window}
