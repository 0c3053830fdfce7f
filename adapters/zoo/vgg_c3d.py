"""Framework-neutral facts of the layer-by-layer families (:mod:`.vgg_c3d_torch`, :mod:`.vgg_c3d_keras`).

Block tables, the width rule and pooled sizes: written once, read by both twins.
"""

from __future__ import annotations

from .architectures import ch

__all__ = ["VGG16_BLOCKS", "SMALL_BLOCKS", "ch", "pooled"]

#: (block, convolutions, channels) of VGG-16.
VGG16_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))

#: (block, channels, pooled after it) of the small demo trunk (one convolution per block).
SMALL_BLOCKS = ((1, 16, True), (2, 32, True), (3, 64, True), (4, 64, False), (5, 64, False))


def pooled(size: int, times: int, ceil_mode: bool = False) -> int:
    """``size`` after ``times`` 2 x 2 poolings of stride 2 (rounding up with ``ceil_mode``)."""
    for _ in range(times):
        size = -(-size // 2) if ceil_mode else size // 2
    return size
