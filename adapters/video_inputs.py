"""How video frames become a model's canonical inputs: one place for the conventions.

stviz's canonical inputs are on the scale of the paper's models
(``docs/architecture.md`` sec. 3): appearance is mean-subtracted RGB on the
0..255 scale, motion is optical flow scaled so that typical motion spans about
``+-B/2`` with ``B = 160``. The demo's data (:mod:`.demo.synthetic_actions`),
video clips (:mod:`.clips`), activity recording (:mod:`.activity`), ``stviz
flow`` and the Kinetics-400 I3D's preprocessing (:mod:`.zoo.kinetics_i3d`) all
use these:

* :data:`MEAN_RGB`: the ImageNet mean the paper's models (and the demo net)
  subtract; :func:`rgb_input` subtracts a mean (the Kinetics-400 I3D's is
  127.5 on every channel);
* :func:`tvl1_flow`: OpenCV's Dual TV-L1 optical flow
  (``opencv-contrib-python-headless``) between consecutive frames, with 3
  scales, 3 warps and epsilon 0.05 (about 10x faster than the defaults and
  within 0.04 px of them), in pixels per frame;
* :data:`FLOW_SCALE`: pixels per frame to the motion input (:func:`flow_input`);
* :func:`two_stream_inputs`: a window of frames as a two-stream model's
  appearance and motion inputs (the demo's convention: the central frames minus
  the mean, the flow between the central ``L + 1`` frames times the scale).
"""

from __future__ import annotations

import numpy as np

__all__ = ["MEAN_RGB", "FLOW_SCALE", "rgb_input", "tvl1_flow", "flow_input", "two_stream_inputs"]

#: the ImageNet mean RGB (0..255) the paper's models and the demo net subtract
MEAN_RGB = np.array([123.68, 116.78, 103.94], dtype=np.float32)
#: motion input = TV-L1 flow in pixels per frame times FLOW_SCALE (typical motion about +-B/2)
FLOW_SCALE = 16.0

_TVL1 = {}


def rgb_input(frames, mean=MEAN_RGB) -> np.ndarray:
    """RGB frames (0..255) as the appearance input: float32 ``frames - mean``.

    Parameters
    ----------
    frames : array_like
        ``(..., 3)`` RGB on the 0..255 scale (uint8 or float).
    mean : float or sequence of 3 floats
        The mean to subtract (default :data:`MEAN_RGB`).

    Returns
    -------
    numpy.ndarray
        float32, the shape of ``frames``.
    """
    return np.asarray(frames).astype(np.float32) - np.asarray(mean, np.float32)


def tvl1_flow(frames: np.ndarray) -> np.ndarray:
    """TV-L1 flow between consecutive frames: ``(T - 1, H, W, 2)`` pixels/frame, ``(u, v)``.

    Parameters
    ----------
    frames : numpy.ndarray
        uint8 RGB ``(T, H, W, 3)``, ``T >= 2``.
    """
    import cv2

    if "tv" not in _TVL1:
        _TVL1["tv"] = cv2.optflow.DualTVL1OpticalFlow_create(nscales=3, warps=3, epsilon=0.05)
    tv = _TVL1["tv"]
    gray = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    return np.stack([tv.calc(a, b, None) for a, b in zip(gray, gray[1:])]).astype(np.float32)


def flow_input(frames: np.ndarray, clip=None) -> np.ndarray:
    """The motion input of ``frames``: :func:`tvl1_flow` times :data:`FLOW_SCALE`, ``(T - 1, H, W, 2)``.

    ``clip``: pixels per frame the flow is clipped to first (DeepMind's I3D: 20,
    :mod:`.zoo.deepmind_i3d`); None keeps it whole.
    """
    flow = tvl1_flow(frames)
    if clip is not None:
        flow = np.clip(flow, -float(clip), float(clip))
    return flow * FLOW_SCALE


def two_stream_inputs(frames: np.ndarray, appearance_frames: int, flow_fields: int) -> tuple:
    """A window of frames as a two-stream model's ``(rgb, flow)`` inputs (the demo's convention).

    Parameters
    ----------
    frames : numpy.ndarray
        uint8 RGB ``(T, H, W, 3)`` with ``T >= max(appearance_frames, flow_fields + 1)``.
    appearance_frames : int
        ``Ta``: the central ``Ta`` frames (the middle one for 1) minus :data:`MEAN_RGB`.
    flow_fields : int
        ``L``: :func:`flow_input` of the central ``L + 1`` frames.

    Returns
    -------
    tuple of numpy.ndarray
        ``rgb (Ta, H, W, 3)`` and ``flow (L, H, W, 2)``, float32.

    Raises
    ------
    ValueError
        Fewer frames than the window needs.
    """
    window = len(frames)
    if window < max(appearance_frames, flow_fields + 1):
        raise ValueError(f"{window} frames: the inputs need {max(appearance_frames, flow_fields + 1)}")
    a0 = (window - appearance_frames) // 2 if appearance_frames > 1 else window // 2
    m0 = (window - flow_fields - 1) // 2
    return (rgb_input(frames[a0:a0 + appearance_frames]),
            flow_input(frames[m0:m0 + flow_fields + 1]))
