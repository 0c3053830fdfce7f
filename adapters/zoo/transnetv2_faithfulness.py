"""Is a visualization faithful in time? TransNetV2's transition units as a ground truth (numpy only).

TransNetV2's unit "transition at frame ``k``" (:mod:`.transnetv2`) fires when
a shot changes at frame ``k``. A visualization that shows what the unit
responds to should then change abruptly at frame ``k`` and little elsewhere.
This module measures that on visualized clips:

* :func:`frame_changes`: the change between frames ``j`` and ``j + 1``, the
  root-mean-square over pixels of the colour vector's difference, ``(T - 1,)``;
* :func:`assess`: per unit, where the largest change falls (``j``), its
  distance from ``k`` (``|j - k|``: the change right after frame ``k``, from
  ``k`` to ``k + 1``, counts as distance 0, as the network's own score peaks
  on the last frame of the first shot, ``tests/adapters/zoo/test_transnetv2_torch.py``)
  and how much it stands out (largest change / median change);
* :data:`TOLERANCE` and :data:`SHARE`: a set of visualizations is faithful
  when the largest change is within 2 frames of ``k`` for at least 80 % of
  the units (:attr:`Assessment.faithful`).

The "no transition" direction (the negated logit) is the control: its
clips should have no such peak (a ratio near 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TOLERANCE", "SHARE", "frame_changes", "Assessment", "assess"]

#: frames the largest change may lie from ``k``
TOLERANCE = 2
#: the share of units whose largest change must lie within :data:`TOLERANCE`
SHARE = 0.8


def frame_changes(clip) -> np.ndarray:
    """``(T - 1,)``: the RMS over pixels of ``|x[j + 1] - x[j]|`` (colour vector norm), float64.

    Parameters
    ----------
    clip : array_like
        ``(T, H, W, C)``, ``T >= 2``.
    """
    clip = np.asarray(clip, np.float64)
    if clip.ndim != 4 or len(clip) < 2:
        raise ValueError(f"expected a clip (T, H, W, C) of at least 2 frames, got shape {clip.shape}")
    return np.sqrt((np.diff(clip, axis=0) ** 2).sum(-1).mean(axis=(1, 2)))


@dataclass(frozen=True)
class Assessment:
    """Where the largest frame-to-frame change of each visualization falls.

    Attributes
    ----------
    frames : tuple of int
        The unit's frame ``k`` of each visualization.
    peaks : tuple of int
        ``j``: the largest change is from frame ``j`` to ``j + 1``.
    ratios : tuple of float
        Largest change / median change (1: no peak).
    tolerance : int
    """

    frames: tuple
    peaks: tuple
    ratios: tuple
    tolerance: int = TOLERANCE

    @property
    def distances(self) -> tuple:
        """``|j - k|`` per visualization."""
        return tuple(abs(j - k) for j, k in zip(self.peaks, self.frames))

    @property
    def share(self) -> float:
        """The share of visualizations whose largest change is within ``tolerance`` of ``k``."""
        return float(np.mean([d <= self.tolerance for d in self.distances]))

    @property
    def faithful(self) -> bool:
        """:attr:`share` is at least :data:`SHARE`."""
        return self.share >= SHARE

    @property
    def median_ratio(self) -> float:
        """The median over visualizations of largest / median change."""
        return float(np.median(self.ratios))

    def to_dict(self) -> dict:
        """JSON values: the fields, the distances, the share and the median ratio."""
        return {"frames": list(self.frames), "peaks": list(self.peaks),
                "ratios": [round(r, 3) for r in self.ratios], "distances": list(self.distances),
                "share": self.share, "median_ratio": round(self.median_ratio, 3),
                "faithful": self.faithful}


def assess(clips, frames, tolerance: int = TOLERANCE) -> Assessment:
    """Assess visualizations of units "transition at frame ``k``".

    Parameters
    ----------
    clips : array_like
        ``(N, T, H, W, C)``: one visualized clip per unit.
    frames : sequence of int
        The unit's ``k`` of each clip, ``0 <= k < T``.
    tolerance : int

    Returns
    -------
    Assessment
    """
    clips = np.asarray(clips)
    frames = tuple(int(k) for k in frames)
    if clips.ndim != 5 or len(clips) != len(frames):
        raise ValueError(f"expected one clip (N, T, H, W, C) per frame k: got clips of shape "
                         f"{clips.shape} for {len(frames)} frames")
    bad = [k for k in frames if not 0 <= k < clips.shape[1]]
    if bad:
        raise ValueError(f"frames {bad} are outside the clips' {clips.shape[1]} frames")
    changes = [frame_changes(c) for c in clips]
    peaks = tuple(int(np.argmax(d)) for d in changes)
    ratios = tuple(float(d.max() / max(np.median(d), 1e-12)) for d in changes)
    return Assessment(frames, peaks, ratios, int(tolerance))
