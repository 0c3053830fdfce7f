"""DeepMind's I3D (:mod:`.deepmind_i3d`) in Keras 3: the twin of :mod:`.deepmind_i3d_torch`.

Functional models on one static clip size, built by :mod:`.declared_keras`
from the same declarations, so the layer names are the PyTorch twin's
(``Mixed_5c``, ``rgb.Mixed_5c``, ``flow.Conv3d_1a_7x7.conv``, ``Logits``).
Inputs are channels last: ``(N, T, H, W, 3)`` RGB minus 127.5, ``(N, T, H,
W, 2)`` flow times 16 (clipped to 20 pixels per frame first). In float64 the
max pools are :class:`~.layers_keras.SameMaxPool3D` (TensorFlow has no
float64 ``MaxPool3D``).
"""

from __future__ import annotations

from stviz_core.backend import InputSpec
from stviz_core.model_contract import declare

from . import declared_keras
from . import deepmind_i3d as D
from . import kinetics_i3d as K

__all__ = ["deepmind_i3d", "two_stream_i3d"]


def _size(frames, input_size):
    h, w = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    K.check_clip(frames, h, w)
    return h, w


def deepmind_i3d(path, stream="rgb", frames=16, input_size=224, *, reader="auto", dtype="float32"):
    """One stream of DeepMind's I3D in Keras (the twin of :func:`.deepmind_i3d_torch.deepmind_i3d`).

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint (prefix, ``.index`` file or folder).
    stream : {"rgb", "flow"}
    frames : int
    input_size : int or (int, int)
    reader : {"auto", "tensorflow", "numpy"}
    dtype : {"float32", "float64"}

    Returns
    -------
    keras.Model
        Declaring ``Clip3D(channels_first=False)``, the input ``clip`` (motion
        for flow), the 400 class names and the stream's preprocessing.
    """
    h, w = _size(frames, input_size)
    net = D.deepmind_i3d_net(D.check_stream(stream), frames, (h, w))
    weights = D.read_deepmind_i3d(path, stream, reader=reader)
    model = declared_keras.load_weights(declared_keras.build(net, dtype=dtype), weights)
    family = D.FAMILY_RGB if stream == "rgb" else D.FAMILY_FLOW
    declare(model, labels=K.KINETICS400_CLASSES, preprocess=family.preprocess)
    if stream == "flow":
        declare(model, inputs={"clip": InputSpec(net.stviz_inputs["clip"], "motion")})
    return model


def two_stream_i3d(rgb, flow, frames=16, input_size=224, *, reader="auto", dtype="float32"):
    """DeepMind's two-stream I3D in Keras: ``model([rgb, flow])``, logits summed (layer ``Logits``).

    The twin of :func:`.deepmind_i3d_torch.two_stream_i3d`; ``rgb`` and
    ``flow`` are the two checkpoints.
    """
    h, w = _size(frames, input_size)
    weights = {f"{stream}.{name}": array for stream, path in (("rgb", rgb), ("flow", flow))
               for name, array in D.read_deepmind_i3d(path, stream, reader=reader).items()}
    model = declared_keras.build(D.two_stream_net(frames, (h, w)), dtype=dtype)
    model = declared_keras.load_weights(model, weights)
    return declare(model, labels=K.KINETICS400_CLASSES, preprocess=D.two_stream_preprocess)
