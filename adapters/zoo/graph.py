"""The vocabulary of declared architectures, free of any framework.

An architecture (:mod:`.architectures`) is a :class:`Net` of named operations
(:class:`Op`) and blocks (:class:`Block`); :mod:`.declared_torch` and
:mod:`.declared_keras` build it with the same layer names, and
:func:`weight_shapes` says which arrays a weight file must give for it, in one
framework-neutral layout, so one reader of a file serves both frameworks:

* ``<conv>.kernel`` ``(*window, C_in, C_out)`` (channels last, as Keras holds
  it), ``<conv>.bias`` ``(C_out,)`` for a convolution with ``bias``;
* ``<bn>.weight`` (only where the op has ``scale``), ``<bn>.bias``,
  ``<bn>.mean``, ``<bn>.var``, each ``(C,)``;
* ``<dense>.kernel`` ``(C_in, C_out)`` (leading 1s, as a 1 x 1 x 1 convolution
  holds it, are accepted), ``<dense>.bias`` ``(C_out,)``.

Operations and their ``params``: ``conv`` (``out``, ``k``, ``s``, ``p``,
``bias``), ``bn`` (``eps``, ``scale``), ``relu``, ``maxpool`` and ``avgpool``
(``k``, ``s``, ``p``), ``add``, ``concat``, ``mean`` (of its inputs), ``gap``
(the mean over all positions; with ``window``, the mean over all windows of
that size, stride 1: :func:`window_mean_weights`), ``dense`` (``out``) and
``scale`` (divides by ``by``: an input convention inside the model).

Padding ``p`` is explicit and symmetric (PyTorch's convention), or ``"same"``:
TensorFlow's "SAME", computed from the input size at run time
(:func:`same_padding`: the odd pixel at the back), as the models trained in
TensorFlow were.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

__all__ = ["Op", "Block", "Net", "TrainedFamily", "trained_family", "ch", "unit", "pool",
           "same_padding", "window_mean_weights", "check_min_clip", "out_channels",
           "weight_shapes", "split_weight_name"]


@dataclass(frozen=True)
class Op:
    """One operation: ``kind`` in conv, bn, relu, maxpool, avgpool, add, concat, mean, gap, dense, scale."""

    name: str
    kind: str
    inputs: tuple
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Block:
    """A named sub-graph; its output is the output of its last item."""

    name: str
    inputs: tuple
    body: tuple


@dataclass(frozen=True)
class Net:
    """A whole model: named inputs ``{name: channels}``, items, output, and how it is called.

    ``min_clip`` ``(T, H, W)``: the smallest clip the model takes (checked when
    it is built and, in PyTorch, when it runs); ``None``: no check.
    """

    name: str
    inputs: dict
    body: tuple
    layout: str  # "two_stream_2d", "two_stream_3d" (two clips, one per input) or "clip_3d"
    stviz_inputs: dict
    dims: int
    min_clip: tuple | None = None


@dataclass(frozen=True)
class TrainedFamily:
    """A family with trained weights: what ``declared_torch.trained`` and ``declared_keras.trained`` build.

    Parameters
    ----------
    name : str
    net : callable
        ``net(**keywords) -> Net``: the declaration (clip size, ...).
    read : callable
        ``read(path=None) -> {"<layer>.<leaf>": array}``: the weight file mapped
        onto the declared layer names, in the layout of the module notes.
    labels : tuple of str, optional
        Class names in logit order (the models' ``stviz_labels``).
    preprocess : callable, optional
        Video frames to the clip input (the models' ``stviz_preprocess``).
    """

    name: str
    net: Callable
    read: Callable
    labels: tuple | None = None
    preprocess: Callable | None = None


def trained_family(family) -> TrainedFamily:
    """``family`` itself, or the ``FAMILY`` of the module ``stviz_adapters.zoo.<family>``.

    Raises
    ------
    ValueError
        No such module, or one without a ``FAMILY``.
    """
    if isinstance(family, TrainedFamily):
        return family
    try:
        found = getattr(importlib.import_module(f"stviz_adapters.zoo.{family}"), "FAMILY", None)
    except ModuleNotFoundError:
        found = None
    if not isinstance(found, TrainedFamily):
        raise ValueError(f"no family with trained weights named {family!r}: give a TrainedFamily, "
                         "or the name of a module stviz_adapters.zoo.<name> that holds FAMILY "
                         "(e.g. 'kinetics_i3d')")
    return found


def ch(channels: int, width: float) -> int:
    """``channels`` scaled by ``width``, at least 1."""
    return max(1, round(channels * width))


def _t(v, dims):
    return tuple(v) if isinstance(v, (tuple, list)) else (v,) * dims


def unit(name, src, out, k, s=1, p=None, *, relu=True, eps=1e-5, dims=2, scale=True):
    """``conv`` (no bias) -> ``bn`` (-> ``relu``) as one block; ``p`` defaults to ``k // 2``.

    ``p="same"``: TensorFlow's padding; ``scale=False``: batch norm without gamma (fixed to 1).
    """
    k = _t(k, dims)
    p = tuple(x // 2 for x in k) if p is None else p if p == "same" else _t(p, dims)
    bn = {"eps": eps} if scale else {"eps": eps, "scale": False}
    body = [Op("conv", "conv", ("@0",), {"out": out, "k": k, "s": _t(s, dims), "p": p}),
            Op("bn", "bn", ("conv",), bn)]
    if relu:
        body.append(Op("relu", "relu", ("bn",)))
    return Block(name, (src,), tuple(body))


def pool(name, src, kind, k, s, p=0, dims=2):
    """A max or average pooling ``kind`` of window ``k``, stride ``s``, padding ``p`` (or ``"same"``)."""
    return Op(name, kind, (src,), {"k": _t(k, dims), "s": _t(s, dims),
                                   "p": p if p == "same" else _t(p, dims)})


def same_padding(size: int, kernel: int, stride: int) -> tuple:
    """TensorFlow "SAME" padding along one axis.

    Parameters
    ----------
    size, kernel, stride : int
        Input length, window length and stride.

    Returns
    -------
    tuple of int
        ``(front, back)``: ``total = max((ceil(size / stride) - 1) * stride + kernel - size, 0)``
        split with the odd pixel at the back.
    """
    total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def window_mean_weights(shape, window) -> np.ndarray:
    """Weights of the mean over all windows of ``window`` positions (stride 1), per position.

    Averaging each window (no padding) and then all windows is a weighted sum
    over positions, each weighted by the number of windows that hold it. A
    window larger than the map along an axis is clipped to the map.

    Parameters
    ----------
    shape : tuple of int
        The feature map's positions, e.g. ``(T, H, W)``.
    window : tuple of int
        One length per axis of ``shape``.

    Returns
    -------
    numpy.ndarray
        float64, shape ``shape``, summing to 1.
    """
    out = np.ones(())
    for n, w in zip(shape, window):
        k = min(w, n)
        windows = n - k + 1
        counts = np.array([min(i, n - k) - max(i - k + 1, 0) + 1 for i in range(n)], float)
        out = np.multiply.outer(out, counts / (windows * k))
    return out


def check_min_clip(name: str, size, minimum) -> None:
    """Raise a ``ValueError`` stating the minimum when a ``(T, H, W)`` clip is below ``minimum``."""
    (frames, height, width), (t, h, w) = tuple(size), tuple(minimum)
    if frames < t or height < h or width < w:
        raise ValueError(f"a clip of {frames} x {height} x {width} (T x H x W) is too small for "
                         f"{name}: it needs at least {t} frames and {h} x {w} pixels")


def out_channels(op: Op, in_channels) -> int:
    """The channels an operation gives for inputs of ``in_channels``."""
    if op.kind in ("conv", "dense"):
        return op.params["out"]
    if op.kind == "concat":
        return sum(in_channels)
    if op.kind in ("add", "mean") and len(set(in_channels)) != 1:
        raise ValueError(f"{op.name}: combining tensors of {list(in_channels)} channels")
    return in_channels[0]


def _walk(body, channels, prefix, shapes):
    out = None
    for item in body:
        ins = [channels[s] for s in item.inputs]
        full = prefix + item.name
        if isinstance(item, Block):
            out = _walk(item.body, {f"@{i}": c for i, c in enumerate(ins)}, full + ".", shapes)
        else:
            out = out_channels(item, ins)
            p = item.params
            if item.kind == "conv":
                shapes[f"{full}.kernel"] = (*p["k"], ins[0], out)
                if p.get("bias"):
                    shapes[f"{full}.bias"] = (out,)
            elif item.kind == "bn":
                leaves = ("weight", "bias", "mean", "var") if p.get("scale", True) else \
                    ("bias", "mean", "var")
                shapes.update({f"{full}.{leaf}": (out,) for leaf in leaves})
            elif item.kind == "dense":
                shapes[f"{full}.kernel"] = (ins[0], out)
                shapes[f"{full}.bias"] = (out,)
        channels[item.name] = out
    return out


def weight_shapes(net: Net) -> dict:
    """``{"<layer>.<leaf>": shape}`` of every array ``net`` holds, in the layout of the module notes."""
    shapes = {}
    _walk(net.body, dict(net.inputs), "", shapes)
    return shapes


def split_weight_name(name: str) -> tuple:
    """``"Mixed_4f.Branch_1b.bn.var"`` -> ``("Mixed_4f.Branch_1b.bn", "var")``."""
    layer, _, leaf = name.rpartition(".")
    if not layer:
        raise ValueError(f"a weight's name is '<layer>.<leaf>', got {name!r}")
    return layer, leaf
