"""Real clips as a model's canonical inputs: a video file, a ``.npz`` of inputs, or a saved Result.

:func:`load_clip` gives a :class:`stviz_core.Clip` (the inputs and where they
came from) to start an ascent from (``ascend(..., init=clip)``) or to invert
(:func:`stviz_core.invert`). It takes

* a **video file** (mp4, avi, gif, ...), read with :mod:`.media.video_io` as
  activity recording reads videos (:func:`stviz_adapters.activity.record_videos`):
  frames fitted to the model's ``H x W`` with their aspect ratio kept (resized
  to cover, centre-cropped), the central window of the frames the model needs
  (or the one from ``start``), then mapped to the canonical input:

  - a model with one RGB clip input ``(T, H, W, 3)`` through its
    ``model.stviz_preprocess`` (the Kinetics-400 I3D: ``frames - 127.5``), else
    by subtracting the ImageNet mean the paper's models use
    (:data:`stviz_adapters.video_inputs.MEAN_RGB`);
  - a two-stream model (an appearance input of ``Ta`` frames and a motion input
    of ``L`` flow fields) by the conventions of :mod:`stviz_adapters.video_inputs`,
    as the demo net's data are made (and ``stviz flow``): a window of
    ``max(Ta, L + 1)`` frames; the appearance its central ``Ta`` frames minus
    the ImageNet mean; the motion the TV-L1 flow between its central ``L + 1``
    frames times :data:`~stviz_adapters.video_inputs.FLOW_SCALE`
    (:func:`~stviz_adapters.video_inputs.two_stream_inputs`);

* a **``.npz`` of inputs**: one array per input name, ``(N or 1, T, H, W, C)``
  (what ``stviz flow`` writes as ``input.npz``);
* a **saved Result** (``STEM``, ``STEM.npz`` or ``STEM.json`` of a pair written by
  ``Result.save``): its inputs, as a new start (pass the loaded Result itself
  to ``ascend(init=...)`` to continue that run instead).

Shapes are checked against the model by the kernel when the run is planned.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stviz_core.backend import input_specs
from stviz_core.model_contract import contract_of
from stviz_core.start import Clip

__all__ = ["load_clip", "read_clip", "model_inputs"]


def model_inputs(model, inputs=None) -> dict:
    """The model's inputs as ``{name: InputSpec}`` (``inputs`` if given, else ``model.stviz_inputs``).

    Raises
    ------
    ValueError
        The model declares none and none are given.
    """
    declared = inputs if inputs is not None else contract_of(model).inputs
    if not declared:
        raise ValueError("the model declares no inputs (model.stviz_inputs): give inputs= "
                         "{name: (T, H, W, C)} to read a clip for it")
    return input_specs(declared)


def load_clip(model, source, *, start=None, inputs=None, preprocess=None) -> Clip:
    """The clip ``source`` names as ``model``'s canonical inputs (see the module notes).

    Parameters
    ----------
    model : object
        The model the clip is for (its ``stviz_inputs``, and ``stviz_preprocess``
        for a video).
    source : str or Path
        A video file, a ``.npz`` of inputs, or a saved Result.
    start : int, optional
        A video's first frame; the central window by default.
    inputs : mapping, optional
        ``{name: (T, H, W, C)}`` in place of ``model.stviz_inputs``.
    preprocess : callable, optional
        ``preprocess(frames, size) -> clip`` for a one-input model, in place of
        ``model.stviz_preprocess``.

    Returns
    -------
    stviz_core.Clip

    Raises
    ------
    ValueError
        A file that is none of these, an unreadable or too short video (the
        file and the frames needed named), a ``.npz`` that holds no arrays.
    FileNotFoundError
        Nothing at ``source``.
    """
    path = Path(source)
    stem = path.with_suffix("") if path.suffix in (".npz", ".json") else path
    if (stem.parent / f"{stem.name}.json").is_file() and (stem.parent / f"{stem.name}.npz").is_file():
        import stviz_core as sv

        try:
            result = sv.load(stem)
        except ValueError:
            result = None  # a .json beside an inputs .npz that is no result: read the .npz
        if result is not None:
            return Clip(result.inputs, source=str(stem),
                        details={"from": "result", "objectives": result.config.get("objectives")})
    if path.suffix == ".npz":
        if not path.is_file():
            raise FileNotFoundError(f"no inputs file {path}")
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: np.asarray(data[k]) for k in data.files}
        if not arrays:
            raise ValueError(f"{path} holds no arrays: expected one per model input, e.g. rgb "
                             "(1, 1, H, W, 3) and flow (1, L, H, W, 2)")
        return Clip(arrays, source=str(path), details={"from": "inputs file"})
    if not path.exists():
        raise FileNotFoundError(f"no clip at {path}: give a video file, a .npz of inputs or a "
                                "saved Result")
    return read_clip(model, path, start=start, inputs=inputs, preprocess=preprocess)


def read_clip(model, path, *, start=None, inputs=None, preprocess=None) -> Clip:
    """A video file as ``model``'s canonical inputs (see the module notes).

    Raises
    ------
    ValueError
        The video cannot be read, is shorter than the window the model needs,
        or the model's inputs are neither one RGB clip nor appearance + motion.
    """
    from .media.video_io import VideoError, clip_windows, count_frames, fit_frames, read_video

    specs = model_inputs(model, inputs)
    appearance = {k: s for k, s in specs.items() if s.role == "appearance"}
    motion = {k: s for k, s in specs.items() if s.role == "motion"}
    if len(appearance) > 1 or len(motion) > 1 or not appearance:
        raise ValueError(f"a video becomes one RGB clip input, or an appearance and a motion "
                         f"input; this model takes {', '.join(sorted(specs))}: give a .npz of "
                         "its inputs instead")
    (a_name, a_spec), = appearance.items()
    t_app, height, width, channels = a_spec.shape
    if channels != 3:
        raise ValueError(f"input {a_name!r} has {channels} channels, not RGB: give a .npz of inputs")
    flows = 0
    if motion:
        (m_name, m_spec), = motion.items()
        flows = m_spec.shape[0]
        if tuple(m_spec.shape[1:3]) != (height, width):
            raise ValueError(f"the appearance input is {height} x {width}, the motion input "
                             f"{m_spec.shape[1]} x {m_spec.shape[2]}: give a .npz of inputs")
    window = max(t_app, flows + 1 if motion else 0)
    try:  # only the window's frames are decoded into memory: the central one is found by counting
        offset = clip_windows(count_frames(path), window)[0] if start is None else int(start)
        video = read_video(path, start=offset, frames=window, max_side=max(height, width))
    except VideoError as exc:
        raise ValueError(str(exc)) from None
    except ValueError as exc:  # clip_windows: too short
        raise ValueError(f"{path}: {exc} (the model needs {window} frames)") from None
    frames = video.frames
    details = {"from": "video", "frames": [offset, offset + window], "size": [height, width],
               "source_size": list(video.source_size)}
    if not motion:
        prep = preprocess if preprocess is not None else contract_of(model).preprocess
        if prep is not None:
            clip = np.asarray(prep(frames, (height, width)), np.float32)
            details["preprocess"] = getattr(prep, "__qualname__", repr(prep))
        else:
            from .video_inputs import rgb_input

            clip = rgb_input(fit_frames(frames, (height, width)))
            details["preprocess"] = "fit (cover, centre crop), minus the ImageNet mean"
        if clip.shape != (t_app, height, width, 3):
            raise ValueError(f"the preprocessing gave {clip.shape}; the model takes "
                             f"{(t_app, height, width, 3)} for {a_name!r}")
        return Clip({a_name: clip[None]}, source=str(path), details=details)
    prep = preprocess if preprocess is not None else contract_of(model).preprocess
    out = prep(frames, (height, width)) if prep is not None else None
    if isinstance(out, dict):  # the model's own two-stream preprocessing (DeepMind's I3D)
        clips = {k: np.asarray(v, np.float32)[None] for k, v in out.items() if k in (a_name, m_name)}
        if {k: c.shape[1:] for k, c in clips.items()} != {a_name: a_spec.shape, m_name: m_spec.shape}:
            raise ValueError(f"the preprocessing gave {({k: np.shape(v) for k, v in out.items()})}; "
                             f"the model takes {a_spec.shape} for {a_name!r}, {m_spec.shape} for {m_name!r}")
        details["preprocess"] = getattr(prep, "__qualname__", repr(prep))
        return Clip(clips, source=str(path), details=details)
    from .video_inputs import FLOW_SCALE, two_stream_inputs

    rgb, flow = two_stream_inputs(fit_frames(frames, (height, width)), t_app, flows)
    details["preprocess"] = (f"demo convention: appearance = frames minus the ImageNet mean, "
                             f"motion = TV-L1 flow x {FLOW_SCALE:g}")
    return Clip({a_name: rgb[None], m_name: flow[None]}, source=str(path), details=details)
