"""DeepMind's I3D from its TensorFlow checkpoints: the RGB and flow streams, and the two-stream model.

Carreira and Zisserman (CVPR 2017) released the Kinetics-400 I3D as
TensorFlow 1 checkpoints in https://github.com/deepmind/kinetics-i3d
(Apache-2.0): ``data/checkpoints/rgb_imagenet/model.ckpt`` and
``data/checkpoints/flow_imagenet/model.ckpt`` (ImageNet-inflated, then
trained on Kinetics-400; ``rgb_scratch`` and ``flow_scratch`` without
ImageNet). Both streams are the network of :mod:`.kinetics_i3d` (the same
declaration, layer names and class names); :func:`read_deepmind_i3d` maps the
checkpoint's variables onto them, through TensorFlow or without it
(:mod:`.deepmind_i3d_checkpoint`). This module is numpy only;
:mod:`.deepmind_i3d_torch` and :mod:`.deepmind_i3d_keras` build the models.

Variable names. Under the scope ``RGB/inception_i3d/`` (``Flow/inception_i3d/``
for flow), each unit ``<Block>[/Branch_<i>/<Conv>]`` holds ``conv_3d/w``
``(kT, kH, kW, C_in, C_out)`` and ``batch_norm/beta``, ``moving_mean`` and
``moving_variance`` (no gamma; ``(C,)`` or Sonnet's ``(1, 1, 1, 1, C)``);
``Logits/Conv3d_0c_1x1/conv_3d/w`` and ``b`` are the classifier. The branches
are ``Branch_0/Conv3d_0a_1x1``, ``Branch_1/Conv3d_0a_1x1``,
``Branch_1/Conv3d_0b_3x3``, ``Branch_2/Conv3d_0a_1x1``,
``Branch_2/Conv3d_0b_3x3`` and ``Branch_3/Conv3d_0b_1x1``, except that
``Mixed_5b``'s second Branch_2 convolution is named ``Conv3d_0a_3x3`` in
DeepMind's code (:func:`deepmind_name`). A checkpoint whose only I3D is under
another scope (an RGB checkpoint given as flow) is read under that scope, so
its first convolution's shape says what it is.

Inputs. RGB: the Kinetics-400 I3D's (:func:`.kinetics_i3d.preprocess`:
``frames - 127.5``, divided by 127.5 inside the model). Flow: TV-L1 optical
flow between consecutive frames (:func:`stviz_adapters.video_inputs.tvl1_flow`),
clipped to [-20, 20] pixels per frame and scaled to [-1, 1], as DeepMind
trained it. stviz's canonical motion input is flow times
:data:`~stviz_adapters.video_inputs.FLOW_SCALE` (16), so :func:`flow_preprocess`
gives ``clip(flow, -20, 20) * 16`` and the flow model divides by
:data:`FLOW_INPUT_SCALE` = 320 as its first operation: a flow of 20 pixels
per frame is the network's 1. The paper preset's bound on each flow vector,
160, is 10 pixels per frame, inside the clipping. DeepMind computed the flow
on frames resized to 256 pixels before the 224 crop; the preprocessing here
fits the frames to the model's size first.

Two streams. :func:`two_stream_net` declares both towers side by side
(``rgb.<layer>``, ``flow.<layer>``) and sums their class scores (``Logits``:
late fusion, as the paper's joint evaluation adds the two streams' logits);
its inputs ``rgb (T, H, W, 3)`` and ``flow (T, H, W, 2)`` share their frames,
appearance and motion, so ``stviz_core.visualize`` ascends both jointly.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from ..video_inputs import FLOW_SCALE, flow_input, rgb_input
from . import graph as G
from . import kinetics_i3d as K
from .deepmind_i3d_checkpoint import checkpoint_prefix, list_variables, read_variables

__all__ = ["URL", "STREAMS", "SCOPES", "FLOW_CLIP", "FLOW_INPUT_SCALE", "deepmind_i3d_net",
           "two_stream_net", "deepmind_name", "expected_variables", "read_deepmind_i3d",
           "flow_preprocess", "two_stream_preprocess", "check_stream", "FAMILY_RGB", "FAMILY_FLOW"]

URL = "https://github.com/deepmind/kinetics-i3d"
#: stream -> input channels
STREAMS = {"rgb": 3, "flow": 2}
#: stream -> the variable scope of DeepMind's checkpoints
SCOPES = {"rgb": "RGB/inception_i3d/", "flow": "Flow/inception_i3d/"}
#: the flow is clipped to [-FLOW_CLIP, FLOW_CLIP] pixels per frame
FLOW_CLIP = 20.0
#: canonical motion input (flow x FLOW_SCALE) / FLOW_INPUT_SCALE = the network's [-1, 1]
FLOW_INPUT_SCALE = FLOW_CLIP * FLOW_SCALE
_STEM = "Conv3d_1a_7x7/conv_3d/w"


def check_stream(stream: str) -> str:
    """``stream`` when it is ``"rgb"`` or ``"flow"``, else a ``ValueError``."""
    if stream not in STREAMS:
        raise ValueError(f"stream is 'rgb' or 'flow', got {stream!r}")
    return stream


def deepmind_i3d_net(stream="rgb", frames=16, input_size=224) -> G.Net:
    """One stream of DeepMind's I3D: the Kinetics-400 I3D's declaration, with 2 input channels for flow.

    Parameters
    ----------
    stream : {"rgb", "flow"}
    frames : int
    input_size : int or (int, int)
        The clip ``(frames, H, W, C)`` the model declares (any ``T >= 8``,
        ``H, W >= 64`` run in PyTorch).

    Returns
    -------
    stviz_adapters.zoo.graph.Net
        Input ``clip`` of 3 (RGB) or 2 (flow ``u, v``) channels; the flow
        stream's first operation divides by :data:`FLOW_INPUT_SCALE`.
    """
    net = K.kinetics_i3d_net(frames, input_size)
    if check_stream(stream) == "rgb":
        return dataclasses.replace(net, name="deepmind_i3d_rgb")
    body = tuple(dataclasses.replace(item, params={"by": FLOW_INPUT_SCALE})
                 if item.name == "input_scale" else item for item in net.body)
    t, h, w, _ = net.stviz_inputs["clip"]
    return dataclasses.replace(net, name="deepmind_i3d_flow", inputs={"clip": 2}, body=body,
                               stviz_inputs={"clip": (t, h, w, 2)})


def _prefixed(item, stream):
    """A top-level item of one stream renamed ``<stream>.<name>``, its input ``clip`` now ``<stream>``."""
    return dataclasses.replace(item, name=f"{stream}.{item.name}", inputs=tuple(
        stream if src == "clip" else f"{stream}.{src}" for src in item.inputs))


def two_stream_net(frames=16, input_size=224) -> G.Net:
    """Both streams side by side, their class scores summed: ``Logits = rgb.Logits + flow.Logits``.

    Inputs ``rgb (frames, H, W, 3)`` and ``flow (frames, H, W, 2)``; layout
    ``"two_stream_3d"`` (two clips, called as ``model(rgb, flow)``).
    """
    body = []
    for stream in STREAMS:
        body += [_prefixed(item, stream) for item in deepmind_i3d_net(stream, frames, input_size).body]
    body.append(G.Op("Logits", "add", ("rgb.Logits", "flow.Logits")))
    h, w = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    return G.Net("two_stream_i3d", dict(STREAMS), tuple(body), "two_stream_3d",
                 {s: (frames, h, w, c) for s, c in STREAMS.items()}, 3,
                 min_clip=(K.MIN_FRAMES, K.MIN_SIZE, K.MIN_SIZE))


_BRANCHES = {"Branch_0": "Branch_0/Conv3d_0a_1x1", "Branch_1a": "Branch_1/Conv3d_0a_1x1",
             "Branch_1b": "Branch_1/Conv3d_0b_3x3", "Branch_2a": "Branch_2/Conv3d_0a_1x1",
             "Branch_2b": "Branch_2/Conv3d_0b_3x3", "Branch_3b": "Branch_3/Conv3d_0b_1x1"}
_LEAVES = {"conv.kernel": "conv_3d/w", "bn.bias": "batch_norm/beta",
           "bn.mean": "batch_norm/moving_mean", "bn.var": "batch_norm/moving_variance"}


def deepmind_name(name: str) -> str:
    """DeepMind's variable name (without the scope) of a stviz weight name.

    ``"Mixed_4f.Branch_1b.bn.var"`` -> ``"Mixed_4f/Branch_1/Conv3d_0b_3x3/batch_norm/moving_variance"``;
    ``"Mixed_5b.Branch_2b.conv.kernel"`` -> ``"Mixed_5b/Branch_2/Conv3d_0a_3x3/conv_3d/w"``
    (DeepMind's name there); ``"Logits.bias"`` -> ``"Logits/Conv3d_0c_1x1/conv_3d/b"``.
    A ``KeyError`` for a name outside the I3D.
    """
    if name in ("Logits.kernel", "Logits.bias"):
        return "Logits/Conv3d_0c_1x1/conv_3d/" + ("w" if name.endswith("kernel") else "b")
    parts = name.split(".")
    leaf, middle = ".".join(parts[-2:]), parts[1:-2]
    if leaf not in _LEAVES or len(middle) > 1 or (middle and middle[0] not in _BRANCHES):
        raise KeyError(f"not a weight of the I3D: {name}")
    branch = [_BRANCHES[middle[0]]] if middle else []
    if parts[0] == "Mixed_5b" and middle == ["Branch_2b"]:
        branch = ["Branch_2/Conv3d_0a_3x3"]
    return "/".join([parts[0], *branch, _LEAVES[leaf]])


def expected_variables(stream="rgb") -> dict:
    """``{DeepMind name (no scope): (stviz name, shape)}`` of the 230 variables a stream's checkpoint holds.

    Shapes as the declaration needs them, with ``Logits/.../w`` a 1 x 1 x 1
    convolution's ``(1, 1, 1, 1024, 400)``; batch-norm statistics ``(C,)``.
    """
    out = {}
    for name, shape in G.weight_shapes(deepmind_i3d_net(stream)).items():
        out[deepmind_name(name)] = (name, (1, 1, 1, *shape) if name == "Logits.kernel" else shape)
    return out


def _scope(names, stream, prefix) -> str:
    """The scope the stream's variables are under: DeepMind's, or the checkpoint's only I3D scope."""
    wanted = SCOPES[stream]
    scopes = sorted({n[: len(n) - len(_STEM)] for n in names
                     if n == _STEM or n.endswith("/" + _STEM)})
    if wanted in scopes or not scopes:
        return wanted
    if len(scopes) == 1:
        return scopes[0]
    raise ValueError(f"{prefix} holds several I3D networks (scopes {', '.join(map(repr, scopes))}) "
                     f"and none under {wanted!r}")


def _stem_hint(stream, found, needed) -> str:
    if found[:3] + found[4:] != needed[:3] + needed[4:] or found[3] not in (2, 3):
        return ""
    other = "RGB" if found[3] == 3 else "flow"
    return (f": {found[3]} input channels where the {stream} stream takes {needed[3]}; this is a "
            f"checkpoint of the {other} stream")


def read_deepmind_i3d(path=None, stream="rgb", *, reader="auto") -> dict:
    """Read one stream of DeepMind's I3D checkpoints into ``{stviz name: float32 array}``.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint: its prefix (``data/checkpoints/rgb_imagenet/model.ckpt``),
        its ``.index`` file or its folder.
    stream : {"rgb", "flow"}
    reader : {"auto", "tensorflow", "numpy"}
        TensorFlow's reader when installed (``"auto"``), or the numpy one
        (:mod:`.deepmind_i3d_checkpoint`).

    Returns
    -------
    dict of str to numpy.ndarray
        The 230 arrays of :func:`expected_variables`, named as the declaration
        (:func:`deepmind_i3d_net`) lists them.

    Raises
    ------
    FileNotFoundError
        No ``path`` (the message says where the checkpoints come from) or no checkpoint there.
    ValueError
        Variables missing (the first ones named: a checkpoint of another
        network), or of the wrong shape (the variable and both shapes; an RGB
        checkpoint given as flow says so).
    """
    check_stream(stream)
    if path is None:
        raise FileNotFoundError(f"give the {stream} checkpoint of DeepMind's I3D: "
                                f"data/checkpoints/{stream}_imagenet/model.ckpt of {URL}")
    prefix = checkpoint_prefix(path)
    found = list_variables(prefix, reader=reader)
    scope = _scope(found, stream, prefix)
    expected = expected_variables(stream)
    missing = [scope + name for name in expected if scope + name not in found]
    if missing:
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise ValueError(f"{prefix} is not a checkpoint of DeepMind's I3D {stream} stream: it lacks "
                         f"{', '.join(missing[:3])}{more} (it holds {len(found)} variables, "
                         f"e.g. {', '.join(sorted(found)[:2]) or 'none'})")
    arrays = read_variables(prefix, [scope + name for name in expected], reader=reader)
    weights = {}
    for name, (stviz, shape) in expected.items():
        array = np.asarray(arrays[scope + name])
        if ".bn." in stviz and array.ndim > 1 and array.shape[:-1] == (1,) * (array.ndim - 1):
            array = array.reshape(array.shape[-1])  # Sonnet's (1, 1, 1, 1, C)
        if array.shape != shape:
            hint = _stem_hint(stream, array.shape, shape) if name == _STEM else ""
            raise ValueError(f"{prefix}: {scope + name} is {array.shape}, the {stream} stream "
                             f"needs {shape}{hint}")
        weights[stviz] = array.astype(np.float32)
    return weights


def flow_preprocess(frames, size=None) -> np.ndarray:
    """Video frames as the flow stream's canonical input: ``clip(TV-L1 flow, -20, 20) * 16``.

    Parameters
    ----------
    frames : array_like
        uint8 RGB ``(F, H, W, 3)``; ``F - 1`` flow fields come out.
    size : (int, int), optional
        ``(H, W)`` to fit the frames to first (cover, centre crop).

    Returns
    -------
    numpy.ndarray
        float32 ``(F - 1, H, W, 2)``, ``(u, v)`` in [-320, 320] (the model divides by 320).

    Raises
    ------
    ValueError
        Not RGB frames, or fewer than 9 frames or 64 pixels (the network's minimum, stated).
    """
    frames = _checked_frames(frames, size)
    return flow_input(frames, clip=FLOW_CLIP)


def two_stream_preprocess(frames, size=None) -> dict:
    """Video frames as the two-stream model's inputs: ``{"rgb": (F - 1, ...), "flow": (F - 1, ...)}``.

    Flow field ``i`` is the motion from frame ``i`` to ``i + 1`` (:func:`flow_preprocess`)
    and goes with frame ``i`` minus 127.5 (:func:`.kinetics_i3d.preprocess`).
    """
    frames = _checked_frames(frames, size)
    return {"rgb": rgb_input(frames[:-1], K.INPUT_SCALE), "flow": flow_input(frames, clip=FLOW_CLIP)}


def _checked_frames(frames, size):
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected RGB frames (T, H, W, 3), got shape {frames.shape}")
    if len(frames) < K.MIN_FRAMES + 1:
        raise ValueError(f"{len(frames)} frames give {len(frames) - 1} flow fields: the I3D needs "
                         f"at least {K.MIN_FRAMES}, so {K.MIN_FRAMES + 1} frames")
    K.check_clip(len(frames) - 1, *frames.shape[1:3])
    if size is not None:
        from ..media.video_io import fit_frames

        frames = fit_frames(frames, tuple(size))
    return frames.astype(np.uint8)


def _family_net(stream):
    return lambda frames=16, input_size=224: deepmind_i3d_net(stream, frames, input_size)


#: the RGB stream as ``declared_torch.trained`` / ``declared_keras.trained`` build it (``path=`` needed)
FAMILY_RGB = G.TrainedFamily("deepmind_i3d_rgb", _family_net("rgb"),
                             functools.partial(read_deepmind_i3d, stream="rgb"),
                             K.KINETICS400_CLASSES, K.preprocess)
#: the flow stream (its input ``clip`` is motion: the builders in the framework modules declare it)
FAMILY_FLOW = G.TrainedFamily("deepmind_i3d_flow", _family_net("flow"),
                              functools.partial(read_deepmind_i3d, stream="flow"),
                              K.KINETICS400_CLASSES, flow_preprocess)
