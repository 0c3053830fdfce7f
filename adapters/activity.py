"""Activity recording: what a layer's units do on real data.

For a layer of a model (PyTorch or Keras) and a set of clips (canonical inputs and
labels) :func:`record` gives, per channel, the maximum activation over all
clips and locations (the ``a_hat`` of eq. 1, which ``visualize(..., a_hat=...)``
uses to normalize the objective), the maximum per class (the bar charts of the
paper's Figs. 9 and 10) and the indices of the top-k clips (Fig. 12).
:func:`record_cached` keeps the result in a file keyed by the model's weights,
the layer and the data, so it is computed once.

:func:`record_videos` does the same for a folder of video files (mp4, avi,
gif, ...; ``stviz record``): class folders ``FOLDER/<class>/<clip>.mp4`` give
the classes (a flat folder is one class), each video is read
(:mod:`.media.video_io`), fitted to the model's input size with its aspect
ratio kept (resized to cover, centre-cropped), cut into windows of the
model's ``T`` frames and mapped to the model's canonical input by its
preprocessing (``model.stviz_preprocess``; for the Kinetics-400 I3D
:func:`stviz_adapters.zoo.kinetics_i3d.preprocess`: ``frames - 127.5``). A
clip's activity is its maximum over its windows; top clips are named by file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stviz_core._xp import from_numpy, to_numpy
from stviz_core.atomic import atomic_path
from stviz_core.backend import backend_member, select_plugin
from stviz_core.model_contract import contract_of

from .model_loading import fingerprint

__all__ = ["Activity", "record", "record_cached", "record_videos", "clip_input"]


@dataclass
class Activity:
    """Recorded activity of one layer.

    Attributes
    ----------
    layer : str
    a_hat : ndarray ``(K,)``
        Maximum activation of each channel over every clip and location.
    per_class : ndarray ``(classes, K)``
        Maximum activation of each channel over the clips of each class.
    top_clips : ndarray ``(K, k)``
        Indices of the k clips with the largest maximum, per channel, best first.
    top_values : ndarray ``(K, k)``
    classes : list of str
    clips : list of str
        Names of the clips (file paths relative to the folder, for
        :func:`record_videos`); empty for in-memory inputs.
    skipped : list of str
        Videos left out by ``record_videos(..., skip_bad=True)``, each with the reason.
    """

    layer: str
    a_hat: np.ndarray
    per_class: np.ndarray
    top_clips: np.ndarray
    top_values: np.ndarray
    classes: list
    clips: list = field(default_factory=list)
    skipped: list = field(default_factory=list)

    def normalizer(self) -> np.ndarray:
        """``a_hat`` ready for eq. 1: channels that never exceed 0 on the data get 1.

        A pre-activation unit can stay negative on every clip; dividing by its
        negative maximum would flip the objective's sign.
        """
        return np.where(self.a_hat > 0, self.a_hat, 1.0)

    def live_channels(self) -> np.ndarray:
        """Channels whose maximum activation on the data is positive."""
        return np.flatnonzero(self.a_hat > 0)

    def strongest_class(self, channel: int) -> str:
        """The class on which ``channel`` reaches its highest activity."""
        return self.classes[int(np.argmax(self.per_class[:, channel]))]

    def top_clip_names(self, channel: int) -> list:
        """The names of ``channel``'s top clips, best first (indices when clips are unnamed)."""
        return [self.clips[i] if self.clips else str(i) for i in self.top_clips[channel]]

    def save(self, path):
        """Write one ``.npz`` (to a temporary name, then renamed: never half-written)."""
        with atomic_path(path) as tmp:
            np.savez(tmp, layer=np.array(self.layer), a_hat=self.a_hat, per_class=self.per_class,
                     top_clips=self.top_clips, top_values=self.top_values,
                     classes=np.array(json.dumps(list(self.classes))),
                     clips=np.array(json.dumps(list(self.clips))),
                     skipped=np.array(json.dumps(list(self.skipped))))

    @classmethod
    def load(cls, path):
        """Read what :meth:`save` wrote (files without clip names load with none)."""
        with np.load(path, allow_pickle=False) as d:
            named = {k: json.loads(str(d[k])) for k in ("clips", "skipped") if k in d.files}
            return cls(str(d["layer"]), d["a_hat"], d["per_class"], d["top_clips"],
                       d["top_values"], json.loads(str(d["classes"])), **named)


def record(model, layer: str, inputs, labels, *, classes=None, top_k: int = 5, batch: int = 50,
           layout=None) -> Activity:
    """Run ``inputs`` (``{name: (N, T, H, W, C)}``) through ``model`` and record ``layer``.

    Runs through the model's backend plugin (PyTorch or Keras: its early exit,
    no gradients); the model is left as it was.
    """
    labels = np.asarray(labels)
    n = len(labels)
    classes = list(classes) if classes is not None else [str(c) for c in range(labels.max() + 1)]
    shapes = {k: tuple(v.shape[1:]) for k, v in inputs.items()}
    maxima = []
    be = select_plugin(model).create(model, layer=layer, inputs=shapes, layout=layout)
    try:
        for start in range(0, n, batch):
            maxima.append(_maxima(be, {k: v[start:start + batch] for k, v in inputs.items()}))
    finally:
        backend_member(be, "close")()
    return _summarize(layer, np.concatenate(maxima), labels, classes, top_k)


def _maxima(be, part) -> np.ndarray:
    """``(N, K)``: each channel's maximum over the locations of each input of the batch ``part``."""
    part = {k: from_numpy(np.ascontiguousarray(v), be.xp, dtype=be.dtype, device=be.device)
            for k, v in part.items()}
    acts = to_numpy(be.activations(part, for_vjp=False)).astype(np.float64)
    return acts.reshape(acts.shape[0], -1, acts.shape[-1]).max(axis=1)


def _summarize(layer, per_clip, labels, classes, top_k, **named) -> Activity:
    """An :class:`Activity` from the per-clip maxima ``(N, K)``."""
    n = len(per_clip)
    per_class = np.stack([per_clip[labels == c].max(axis=0) if (labels == c).any()
                          else np.full(per_clip.shape[1], -np.inf) for c in range(len(classes))])
    k = min(top_k, n)
    order = np.argsort(-per_clip, axis=0, kind="stable")[:k].T
    return Activity(layer, per_clip.max(axis=0), per_class, order,
                    np.take_along_axis(per_clip.T, order, axis=1), list(classes), **named)


def clip_input(model) -> tuple:
    """The name and ``(T, H, W, C)`` of ``model``'s one clip input (``model.stviz_inputs``).

    Raises
    ------
    ValueError
        The model declares no inputs, or more than one (a two-stream model's
        flow input is not a video: record it with :func:`record` on prepared inputs).
    """
    inputs = contract_of(model).inputs
    if not inputs:
        raise ValueError("the model declares no inputs (model.stviz_inputs): recording from videos "
                         "needs its clip shape (T, H, W, 3)")
    if len(inputs) != 1:
        raise ValueError(f"recording from videos takes a model with one clip input; this one has "
                         f"{', '.join(inputs)} (record those with activity.record on prepared "
                         "inputs)")
    (name, shape), = inputs.items()
    shape = tuple(getattr(shape, "shape", shape))
    if len(shape) != 4 or shape[-1] != 3:
        raise ValueError(f"input {name!r} is {shape}, not an RGB clip (T, H, W, 3)")
    return name, shape


def record_videos(model, layer: str, folder, *, preprocess=None, windows=1, top_k: int = 5,
                  batch: int = 4, skip_bad: bool = False, progress: bool = True,
                  layout=None) -> Activity:
    """Record ``layer`` on a folder of videos: ``a_hat``, per-class maxima and top clips by name.

    Parameters
    ----------
    model : object
        A model with one RGB clip input, ``model.stviz_inputs = {name: (T, H, W, 3)}``
        (the zoo's Kinetics-400 I3D has it), or with several clip inputs of one
        ``(T, H, W)`` that its preprocessing gives together as ``{name: clip}``
        (DeepMind's two-stream I3D: ``rgb`` and ``flow``); every window is ``T``
        frames of ``H x W``.
    layer : str
    folder : path
        ``folder/<class>/<clip>.<mp4|avi|gif|...>`` (one class per subfolder,
        sorted by name) or a flat folder of videos (one class, the folder's name).
    preprocess : callable, optional
        ``preprocess(frames, size) -> clip``: uint8 RGB frames ``(F, h, w, 3)``
        as read (frames whose shorter side is above the model's input size are
        already shrunk to it) to the canonical input ``(F, H, W, 3)`` float32
        at ``size = (H, W)``, refusing a video smaller than the network needs
        with its minimum. Default: ``model.stviz_preprocess`` (the I3D's
        :func:`stviz_adapters.zoo.kinetics_i3d.preprocess`).
    windows : int or "all"
        Windows of ``T`` frames per video (:func:`.media.video_io.clip_windows`:
        1 is the central one); a video's activity is its maximum over them.
    top_k : int
        Top clips kept per channel.
    batch : int
        Windows per forward pass.
    skip_bad : bool
        Leave out unreadable or too small videos (listed in ``Activity.skipped``)
        instead of stopping at the first with an error naming it.
    progress : bool
        A tqdm bar over the videos (when tqdm is installed).
    layout : object, optional
        Passed to the backend plugin.

    Returns
    -------
    Activity
        With ``clips`` the file paths relative to ``folder``.

    Raises
    ------
    ValueError
        No preprocessing, a model without one clip input, no videos, or (without
        ``skip_bad``) a video that cannot be read or has fewer frames or pixels
        than the network needs (the file and the minimum named). Nothing is
        written: save the returned Activity (:meth:`Activity.save` is atomic).
    """
    from .media.video_io import list_videos

    folder = Path(folder)
    shapes = _video_shapes(model)
    preprocess = preprocess if preprocess is not None else contract_of(model).preprocess
    if preprocess is None:
        raise ValueError("the model has no stviz_preprocess (how a video becomes its input); pass "
                         "preprocess=, e.g. stviz_adapters.zoo.kinetics_i3d.preprocess")
    paths, labels, classes = list_videos(folder)
    bar = _bar(len(paths), progress, f"recording {layer}")
    be = select_plugin(model).create(model, layer=layer, inputs=shapes, layout=layout)
    try:
        per_clip, kept, skipped = _record_windows(be, folder, paths, preprocess, shapes,
                                                  windows=windows, batch=batch, skip_bad=skip_bad,
                                                  bar=bar)
    finally:
        bar.close()
        backend_member(be, "close")()
    if not kept:
        raise ValueError(f"no readable video in {folder}: " + "; ".join(skipped))
    maxima = np.stack([per_clip[i] for i in kept])
    return _summarize(layer, maxima, np.asarray(labels)[kept], classes, top_k,
                      clips=[paths[i].relative_to(folder).as_posix() for i in kept],
                      skipped=skipped)


def _video_shapes(model) -> dict:
    """``{name: (T, H, W, C)}`` of what a video becomes: the one RGB clip input (:func:`clip_input`),
    or clip inputs of one ``(T, H, W)`` that the preprocessing gives together (a two-stream I3D)."""
    shapes = {name: tuple(getattr(s, "shape", s)) for name, s in (contract_of(model).inputs or {}).items()}
    if len(shapes) > 1 and all(len(s) == 4 for s in shapes.values()) \
            and len({s[:3] for s in shapes.values()}) == 1:
        return shapes
    name, shape = clip_input(model)
    return {name: shape}


def _record_windows(be, folder, paths, preprocess, shapes, *, windows, batch, skip_bad, bar):
    """Each readable video's maxima over its windows of the inputs' ``shapes``:
    ``({video index: maxima}, indices kept, "file: reason" of those skipped)``."""
    from .media.video_io import VideoError, clip_windows, read_video

    frames = next(iter(shapes.values()))[0]
    per_clip, kept, skipped, pending = {}, [], [], []

    def flush():
        if pending:
            values = _maxima(be, {k: np.stack([w[k] for _, w in pending]) for k in shapes})
            for (i, _), v in zip(pending, values):
                per_clip[i] = np.maximum(per_clip[i], v) if i in per_clip else v
            pending.clear()

    for i, path in enumerate(paths):
        rel = path.relative_to(folder).as_posix()
        try:
            clip = _video_clip(path, preprocess, shapes, read_video, VideoError)
        except ValueError as exc:
            if not skip_bad:
                raise ValueError(f"{rel}: {exc}" if str(path) not in str(exc) else str(exc)) \
                    from None
            skipped.append(f"{rel}: {exc}")
            bar.update(1)
            continue
        kept.append(i)
        length = len(next(iter(clip.values())))
        pending.extend((i, {k: c[s:s + frames] for k, c in clip.items()})
                       for s in clip_windows(length, frames, windows))
        if len(pending) >= batch:
            flush()
        bar.update(1)
    flush()
    return per_clip, kept, skipped


def _video_clip(path, preprocess, shapes, read_video, VideoError):
    """One video as the model's canonical inputs ``{name: (F, H, W, C)}``, or a ``ValueError`` saying why not."""
    frames, height, width = next(iter(shapes.values()))[:3]
    size = (height, width)
    try:
        video = read_video(path, max_side=max(size))
    except VideoError as exc:
        raise ValueError(str(exc)) from None
    out = preprocess(video.frames, size)
    clips = {k: np.asarray(v) for k, v in out.items()} if isinstance(out, dict) \
        else {next(iter(shapes)): np.asarray(out)}
    for name, shape in shapes.items():
        if name not in clips:
            raise ValueError(f"the preprocessing gave {', '.join(clips)}, not the input {name!r}")
        clip, which = clips[name], f" for {name!r}" if len(shapes) > 1 else ""
        if clip.shape[1:] != (*size, shape[3]):
            raise ValueError(f"the preprocessing gave frames of {clip.shape[1:]}{which}, the model "
                             f"takes {(*size, shape[3])}")
        if len(clip) < frames:
            raise ValueError(f"{len(clip)} frames is too short: the model's input is {frames} "
                             f"frames (model.stviz_inputs), so a video needs at least {frames}")
    return clips


class _NoBar:
    def update(self, n=1):
        pass

    def close(self):
        pass


def _bar(total, progress, desc):
    """A tqdm bar over ``total`` videos, or a stand-in that does nothing."""
    if not progress:
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover - the cli extra brings tqdm
        return _NoBar()
    return tqdm(total=total, desc=desc, unit="video")


def record_cached(model, layer, inputs, labels, *, cache_dir, key_extra="", **options) -> Activity:
    """:func:`record`, kept in ``cache_dir`` under a hash of the weights, layer, data and options."""
    h = hashlib.sha256(fingerprint(model).encode())
    h.update(layer.encode())
    for name in sorted(inputs):
        h.update(np.ascontiguousarray(inputs[name][:, :1, :4, :4]).tobytes())
        h.update(str(inputs[name].shape).encode())
    h.update(np.asarray(labels).tobytes())
    h.update(repr(sorted(options.items())).encode() + key_extra.encode())
    path = Path(cache_dir) / f"activity-{layer}-{h.hexdigest()[:16]}.npz"
    if path.exists():
        return Activity.load(path)
    activity = record(model, layer, inputs, labels, **options)
    activity.save(path)
    return activity
