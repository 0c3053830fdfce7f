"""Does the network still see the class? Class visualizations classified under unseen transforms.

A yardstick of visualization quality (issue 15 item 7; the next issue on
quality reuses it): a class visualization that the network classifies as its
class only in the exact pixels the ascent produced may be an adversarial
pattern; one it still classifies after small changes that the optimization
never used looks like the class to the network in a more robust sense.

:func:`views` makes such changes to a clip in canonical layout ``(T, H, W, C)``
with numpy: a **translation** by up to ``max_shift`` of the width (and of the
height), with the uncovered border set to 0 (the mean colour; not the
wrap-around roll of the ascent's jitter), a **scale** about the centre
(bilinear, 0.9 to 1.1 by default) and a **temporal shift** of up to
``max_time_shift`` frames, holding the first or last frame. :func:`recognition`
classifies ``draws`` random views of each visualization (the same views for
every visualization of a call, from ``seed``) plus the untouched clip, through
the model's backend plugin, and returns the top-1 and top-5 rates.

The ``paper`` preset's ascent only rolls the input (jitter); ``robust``,
``fourier`` and ``maco`` also scale (0.9-1.1), rotate and shift by up to one
frame while they optimize (``stviz_core.presets.TRANSFORMS``), so these views
are closer to what they trained on: compare presets with that in mind.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stviz_core._xp import from_numpy, to_numpy
from stviz_core.backend import backend_member, select_plugin
from stviz_core.model_contract import contract_of
from stviz_core.objectives import class_logit, resolve_classes


__all__ = ["View", "Recognition", "views", "apply_view", "recognition", "class_scores"]


@dataclass(frozen=True)
class View:
    """One change of a clip: translation ``(dy, dx)`` in pixels, ``scale``, frame shift ``dt``."""

    dy: int = 0
    dx: int = 0
    scale: float = 1.0
    dt: int = 0


def views(count: int, size, *, max_shift=1 / 8, scale=(0.9, 1.1), max_time_shift=2,
          seed=0) -> list:
    """``count`` random :class:`View` s for clips of ``size = (H, W)``.

    Parameters
    ----------
    count : int
    size : (int, int)
    max_shift : float
        Largest translation as a fraction of the width (both axes: ``round(max_shift * W)``
        pixels at most).
    scale : (float, float)
        Range of the scale factor.
    max_time_shift : int
        Largest shift in frames, either way.
    seed : int

    Returns
    -------
    list of View
        Drawn uniformly (integers for the shifts).
    """
    rng = np.random.default_rng(seed)
    shift = int(round(max_shift * size[1]))
    return [View(int(rng.integers(-shift, shift + 1)), int(rng.integers(-shift, shift + 1)),
                 float(rng.uniform(*scale)),
                 int(rng.integers(-max_time_shift, max_time_shift + 1)))
            for _ in range(count)]


def apply_view(clip, view: View) -> np.ndarray:
    """``clip`` ``(T, H, W, C)`` seen through ``view``: scaled about the centre, translated, retimed.

    Bilinear sampling; pixels from outside the frame are 0 (the mean colour of a
    mean-subtracted input); frames before the first or after the last repeat it.
    """
    clip = np.asarray(clip, np.float64)
    t, h, w, _ = clip.shape
    clip = clip[np.clip(np.arange(t) - view.dt, 0, t - 1)]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    sy = (np.arange(h) - cy - view.dy) / view.scale + cy
    sx = (np.arange(w) - cx - view.dx) / view.scale + cx
    out = np.zeros_like(clip)
    y0, x0 = np.floor(sy).astype(int), np.floor(sx).astype(int)
    fy, fx = sy - y0, sx - x0
    for oy, wy in ((0, 1 - fy), (1, fy)):
        for ox, wx in ((0, 1 - fx), (1, fx)):
            yy, xx = y0 + oy, x0 + ox
            vy, vx = (yy >= 0) & (yy < h), (xx >= 0) & (xx < w)
            weight = (wy * vy)[:, None] * (wx * vx)[None, :]
            out += clip[:, np.clip(yy, 0, h - 1)][:, :, np.clip(xx, 0, w - 1)] * weight[None, :, :, None]
    return out


@dataclass
class Recognition:
    """How often each class visualization is classified as its class.

    Attributes
    ----------
    targets : list of int
        The class index of each visualization.
    names : list of str
        The class names (indices as strings when the model has none).
    top1, top5 : numpy.ndarray ``(N,)``
        Fraction of the random views whose top-1 is the class, whose top 5 hold it.
    clean_rank : numpy.ndarray ``(N,)``
        Rank of the class (0 = top) on the visualization itself.
    clean_score : numpy.ndarray ``(N,)``
        The class's score (logit) on the visualization itself.
    views : list of View
    clean_classes : numpy.ndarray ``(N, 5)``
        The five top classes on the visualization itself, best first.
    """

    targets: list
    names: list
    top1: np.ndarray
    top5: np.ndarray
    clean_rank: np.ndarray
    clean_score: np.ndarray
    views: list
    clean_classes: np.ndarray

    @property
    def clean_top1(self) -> float:
        """Fraction of visualizations whose own class is top-1 untransformed."""
        return float(np.mean(self.clean_rank == 0))

    @property
    def clean_top5(self) -> float:
        """Fraction of visualizations whose own class is in the top 5 untransformed."""
        return float(np.mean(self.clean_rank < 5))

    def summary(self) -> dict:
        """Mean rates over the visualizations (the numbers a benchmark records)."""
        return {"visualizations": len(self.targets), "views": len(self.views),
                "top1": float(np.mean(self.top1)), "top5": float(np.mean(self.top5)),
                "clean_top1": self.clean_top1, "clean_top5": self.clean_top5}


def recognition(model, clips, targets, *, layer="Logits", input_name=None, draws=8, seed=0,
                batch=8, **view_options) -> Recognition:
    """Classify class visualizations under random unseen views (:func:`views`).

    Parameters
    ----------
    model : object
        A classifier with a backend plugin and one input, e.g. the Kinetics-400 I3D.
    clips : array_like
        ``(N, T, H, W, C)`` in canonical layout (``Result.inputs[name]``).
    targets : sequence of int or str
        The class of each visualization: indices, or names from ``model.stviz_labels``.
    layer : str
        The layer whose outputs are the class scores.
    input_name : str, optional
        The model's input name; the only one of ``model.stviz_inputs`` by default.
    draws : int
        Random views per visualization (the same views for all visualizations).
    seed : int
    batch : int
        Clips per forward pass.
    **view_options
        ``max_shift``, ``scale``, ``max_time_shift`` of :func:`views`.

    Returns
    -------
    Recognition
    """
    clips = np.asarray(clips)
    labels = list(contract_of(model).labels or [])
    index = []
    for t in targets:
        if isinstance(t, str):
            index.append(resolve_classes(class_logit(t), labels).unit_channel)
        else:
            index.append(int(t))
    drawn = views(draws, clips.shape[2:4], seed=seed, **view_options)
    batches = [np.stack([apply_view(c, v) for c in clips]).astype(np.float32)
               for v in [View()] + drawn]
    scores = class_scores(model, np.concatenate(batches), layer=layer, input_name=input_name,
                          batch=batch).reshape(len(batches), len(clips), -1)  # (V, N, K)
    target = np.asarray(index)
    own = np.take_along_axis(scores, target[None, :, None], axis=2)[..., 0]  # (V, N)
    rank = (scores > own[..., None]).sum(axis=2)  # (V, N): classes scoring above the target
    return Recognition(index, [labels[i] if i < len(labels) else str(i) for i in index],
                       (rank[1:] == 0).mean(axis=0), (rank[1:] < 5).mean(axis=0), rank[0],
                       own[0], drawn, np.argsort(-scores[0], axis=1, kind="stable")[:, :5])


def class_scores(model, clips, *, layer="Logits", input_name=None, batch=8) -> np.ndarray:
    """``(N, K)``: the scores of ``layer`` (flattened) for clips ``(N, T, H, W, C)``.

    Through the model's backend plugin, without gradients; ``input_name`` is the
    only input of ``model.stviz_inputs`` by default.
    """
    clips = np.asarray(clips)
    if input_name is None:
        declared = contract_of(model).inputs or {}
        if len(declared) != 1:
            raise ValueError(f"give input_name= (the model declares {len(declared)} inputs)")
        input_name = next(iter(declared))
    be = select_plugin(model).create(model, layer=layer, inputs={input_name: clips.shape[1:]})
    out = []
    try:
        for start in range(0, len(clips), batch):
            part = from_numpy(np.ascontiguousarray(clips[start:start + batch]), be.xp,
                              dtype=be.dtype, device=be.device)
            acts = to_numpy(be.activations({input_name: part}, for_vjp=False)).astype(np.float64)
            out.append(acts.reshape(acts.shape[0], -1))
    finally:
        backend_member(be, "close")()
    return np.concatenate(out)
