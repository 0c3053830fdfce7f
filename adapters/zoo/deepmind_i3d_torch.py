"""DeepMind's I3D (:mod:`.deepmind_i3d`) in PyTorch: one stream, or the two-stream model.

The models are :mod:`.declared_torch` builds of the declarations
:func:`.deepmind_i3d.deepmind_i3d_net` and :func:`.deepmind_i3d.two_stream_net`
(the Kinetics-400 I3D's layers, TensorFlow's "SAME" padding), with the
checkpoints' weights loaded by name, in ``channels_last_3d`` memory format
like :func:`.kinetics_i3d_torch.kinetics_i3d`.

* ``deepmind_i3d(path, "rgb")``: ``model(clip)``, clip ``(N, 3, T, H, W)``
  RGB minus 127.5 (the Kinetics-400 I3D's input);
* ``deepmind_i3d(path, "flow")``: ``model(clip)``, clip ``(N, 2, T, H, W)``:
  TV-L1 flow ``(u, v)`` clipped to 20 pixels per frame, times 16 (declared
  as a motion input);
* ``two_stream_i3d(rgb=..., flow=...)``: ``model(rgb, flow)``, the sum of
  both streams' class scores (layer ``Logits``; each stream's layers are
  ``rgb.<layer>`` and ``flow.<layer>``).
"""

from __future__ import annotations

import torch

from stviz_core.backend import InputSpec
from stviz_core.model_contract import declare

from . import deepmind_i3d as D
from . import kinetics_i3d as K
from .declared_torch import ClipNet, FamilyNet, TwoStreamNet, load_weights

__all__ = ["deepmind_i3d", "two_stream_i3d"]


def _size(frames, input_size):
    h, w = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    K.check_clip(frames, h, w)
    return h, w


def _ready(model, weights, dtype, preprocess) -> FamilyNet:
    """``model`` with ``weights`` loaded, channels-last, in ``dtype``, eval mode, labels and preprocessing declared."""
    model = load_weights(model, weights).to(memory_format=torch.channels_last_3d)
    model = model.to(dtype=dtype).eval()
    return declare(model, labels=K.KINETICS400_CLASSES, preprocess=preprocess)


def deepmind_i3d(path, stream="rgb", frames=16, input_size=224, *, reader="auto",
                 dtype=torch.float32) -> ClipNet:
    """One stream of DeepMind's I3D from its TensorFlow checkpoint, ready for ``stviz_core.visualize``.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint (``data/checkpoints/rgb_imagenet/model.ckpt`` of
        https://github.com/deepmind/kinetics-i3d, its ``.index`` file or folder).
    stream : {"rgb", "flow"}
    frames : int
    input_size : int or (int, int)
        The clip ``stviz_inputs`` declares (any ``T >= 8``, ``H, W >= 64`` run).
    reader : {"auto", "tensorflow", "numpy"}
        How the checkpoint is read (:func:`.deepmind_i3d.read_deepmind_i3d`).
    dtype : torch.dtype

    Returns
    -------
    stviz_adapters.zoo.declared_torch.ClipNet
        Declaring ``Clip3D()``, the input ``clip`` (a motion input for flow),
        the 400 class names and the stream's preprocessing
        (:func:`.kinetics_i3d.preprocess`, :func:`.deepmind_i3d.flow_preprocess`).
    """
    h, w = _size(frames, input_size)
    net = D.deepmind_i3d_net(D.check_stream(stream), frames, (h, w))
    weights = D.read_deepmind_i3d(path, stream, reader=reader)
    family = D.FAMILY_RGB if stream == "rgb" else D.FAMILY_FLOW
    model = _ready(ClipNet(net), weights, dtype, family.preprocess)
    if stream == "flow":
        declare(model, inputs={"clip": InputSpec(net.stviz_inputs["clip"], "motion")})
    return model


def two_stream_i3d(rgb, flow, frames=16, input_size=224, *, reader="auto",
                   dtype=torch.float32) -> TwoStreamNet:
    """DeepMind's two-stream I3D: both checkpoints, logits summed (late fusion).

    Parameters
    ----------
    rgb, flow : str or os.PathLike
        The two checkpoints (``rgb_imagenet`` and ``flow_imagenet``).
    frames, input_size, reader, dtype
        As :func:`deepmind_i3d`; both inputs have ``frames`` frames.

    Returns
    -------
    stviz_adapters.zoo.declared_torch.TwoStreamNet
        ``model(rgb, flow)`` with ``rgb (N, 3, T, H, W)`` and ``flow (N, 2, T,
        H, W)``, declaring the inputs ``rgb`` (appearance) and ``flow``
        (motion), the 400 class names and
        :func:`.deepmind_i3d.two_stream_preprocess`.
    """
    h, w = _size(frames, input_size)
    weights = {f"{stream}.{name}": array for stream, path in (("rgb", rgb), ("flow", flow))
               for name, array in D.read_deepmind_i3d(path, stream, reader=reader).items()}
    return _ready(TwoStreamNet(D.two_stream_net(frames, (h, w))), weights, dtype,
                  D.two_stream_preprocess)
