"""The crops of a canvas in time and space: which frames, and whether a box fits.

A parameterization with a canvas larger than the clip (:mod:`stviz_core.param._canvas`)
is cropped at every step (:mod:`stviz_core.transforms`); these functions say where:
:func:`crop_phases` and :func:`crop_start` choose the frames so that every frame of the
returned clip is in the crops equally often, :func:`check_crop` refuses boxes smaller
than the clip.
"""

from __future__ import annotations

import numpy as np

__all__ = ["crop_phases", "crop_start", "check_crop"]


def crop_phases(phase_u, order_u):
    """Per step, the time round's phase and part from two ``(steps, N)`` uniforms.

    Steps ``2r`` and ``2r + 1`` form round ``r``: one phase (drawn at ``2r``) and
    its two crops in a random order; an odd last step has phase ``-1`` (the
    centre), so every round is complete (:func:`crop_start`).
    """
    steps = phase_u.shape[0]
    first = (np.arange(steps) // 2) * 2
    phase = phase_u[first].copy()
    part = ((np.arange(steps)[:, None] % 2) ^ (order_u[first] < 0.5)).astype(np.int64)
    if steps % 2:
        phase[-1] = -1.0
    return phase, part


def crop_start(frames: int, canvas_frames: int, phase: float, part: int) -> int:
    """The first canvas frame of a crop of ``frames`` frames, from its round's phase and part.

    The clip is the canvas's frames ``a .. a + T - 1`` (``a = (T' - T) // 2``). A
    round of phase ``d`` (one of the phases the canvas allows, picked by
    ``phase`` in ``[0, 1)``) takes the crops starting at ``a - d`` and ``a - d + T``,
    which tile ``a - d .. a - d + 2T - 1``: every clip frame is in exactly one of
    them, at position ``(i + d) mod T``. Phase 0 (and ``phase < 0``) takes the
    centre, the clip itself, in both parts. So every clip frame is in the crops
    equally often over any whole number of rounds, and, where the canvas allows
    every phase (margins of ``T - 1`` frames: ``T' >= 3T - 2``), at every position
    of the network's window equally often.
    """
    before = (canvas_frames - frames) // 2
    after = canvas_frames - frames - before
    if phase < 0:
        return before
    phases = [0] + [d for d in range(1, frames) if d <= before and frames - d <= after]
    d = phases[min(int(phase * len(phases)), len(phases) - 1)]
    if d == 0:
        return before
    return before - d if part == 0 else before - d + frames


def check_crop(crop, shape, canvas) -> None:
    """Raise a one-line ``ValueError`` unless crops of ``crop`` (fractions of the canvas's side)
    are no smaller than the clip ``shape`` (``(T, H, W, C)``) in a ``canvas`` ``(T', H', W', C)``."""
    if crop is None:
        return
    lo = crop[0]
    for name, n, m in (("height", shape[1], canvas[1]), ("width", shape[2], canvas[2])):
        if lo * m < n - 1e-9:
            raise ValueError(
                f"crop={tuple(crop)!r} takes crops of {lo:g} x {m} = {lo * m:g} pixels ({name}), "
                f"smaller than the clip's {n}: crops are fractions of the canvas's side in (0, 1] "
                f"no smaller than the clip, here >= {n / m:.4g}"
                + ("" if m > n else "; give the parameterization a canvas (canvas=(time, space))"))
