"""Reading real videos into frames a model takes: one reader for ``stviz flow`` and activity recording.

:func:`read_video` decodes a video file (mp4, avi, gif, ... anything imageio
with imageio-ffmpeg reads, the ``media`` extra) into uint8 RGB frames
``(T, H, W, 3)``, streaming: frames past the ones asked for are not decoded,
and with ``max_side`` each frame is shrunk as it is read, so a long or large
video does not fill the memory. :func:`fit_frames` then brings the frames to a
model's ``H x W`` **keeping the aspect ratio**: the frames are resized so that
they cover ``H x W`` (the shorter side, relative to the target's, fills it)
and the centre is cropped; nothing is stretched, the margins of the longer
side are cut off. :func:`clip_windows` places windows of ``T`` frames in a
longer video.

Resizing uses Pillow's bilinear filter (antialiased when shrinking); Pillow
comes with imageio.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["VIDEO_SUFFIXES", "Video", "VideoError", "read_video", "count_frames", "fit_frames",
           "resize_frames", "center_crop", "clip_windows", "list_videos"]

#: file suffixes taken as videos when a folder is scanned
VIDEO_SUFFIXES = (".mp4", ".avi", ".gif", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg")


class VideoError(ValueError):
    """A video that cannot be read, or does not have the frames or pixels asked for (names the file)."""


@dataclass(frozen=True)
class Video:
    """Frames read from a file.

    Attributes
    ----------
    frames : numpy.ndarray
        uint8 RGB, ``(T, H, W, 3)``.
    source_size : tuple of int
        ``(H, W)`` of the file's frames before any resizing.
    path : str
    """

    frames: np.ndarray
    source_size: tuple
    path: str


def read_video(path, *, start: int = 0, frames=None, max_side=None) -> Video:
    """Decode ``frames`` frames of ``path`` from frame ``start`` (all to the end by default).

    Parameters
    ----------
    path : str or os.PathLike
        A video file (mp4, avi, gif, ...).
    start : int
        First frame.
    frames : int, optional
        How many frames; ``None`` reads to the end.
    max_side : int, optional
        Shrink each frame as it is read so that its *shorter* side is at most
        ``max_side`` (aspect kept; frames already smaller stay as they are).
        ``Video.source_size`` keeps the file's own size.

    Returns
    -------
    Video

    Raises
    ------
    VideoError
        No such file, a file imageio cannot decode, or fewer than
        ``start + frames`` frames (the message names the file and the counts).
    """
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"no video file {path}")
    import imageio.v3 as iio

    out, source, seen = [], None, 0
    stop = None if frames is None else start + frames
    try:
        for i, frame in enumerate(iio.imiter(path)):
            if stop is not None and i >= stop:
                break
            seen = i + 1
            if i < start:
                continue
            frame = _rgb(frame)
            if source is None:
                source = frame.shape[:2]
            if max_side is not None and min(frame.shape[:2]) > max_side:
                frame = resize_frames(frame[None], _cover(frame.shape[:2], (max_side, max_side)))[0]
            out.append(frame)
    except VideoError:
        raise
    except Exception as exc:  # any decoder failure (imageio, ffmpeg, Pillow) names the file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise VideoError(f"cannot read video {path}: {first}") from None
    if len(out) < (frames or 1):
        raise VideoError(f"{path} has {seen} frame(s); need {start + (frames or 1)}"
                         + (f" (frames {start} to {start + (frames or 1) - 1})" if start else ""))
    if len({f.shape for f in out}) != 1:
        raise VideoError(f"{path}: frames of different sizes")
    return Video(np.stack(out), tuple(source), str(path))


def count_frames(path) -> int:
    """The number of frames of the video ``path``, without keeping any of them in memory.

    A container that states its frame count (GIF) is believed; another's
    video packets are counted by ffmpeg without decoding them (``-c copy``),
    else its frames are decoded one by one, each dropped as it is read.

    Raises
    ------
    VideoError
        No such file, or one that cannot be decoded (named).
    """
    path = Path(path)
    if not path.is_file():
        raise VideoError(f"no video file {path}")
    import imageio.v3 as iio

    try:
        stated = iio.improps(path).shape[0]
        if np.isfinite(stated):
            return int(stated)
    except Exception:  # noqa: BLE001 - no stated count: count below
        pass
    try:
        return _ffmpeg_packets(path)
    except Exception:  # noqa: BLE001 - ffmpeg missing or refusing: decode and drop
        pass
    try:
        return sum(1 for _ in iio.imiter(path))
    except Exception as exc:  # noqa: BLE001 - any decoder failure names the file
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise VideoError(f"cannot read video {path}: {first}") from None


def _ffmpeg_packets(path) -> int:
    """The video packets (frames) of the first video stream, counted by ffmpeg without decoding."""
    import re
    import subprocess

    import imageio_ffmpeg

    done = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-i", str(path), "-map",
                           "0:v:0", "-c", "copy", "-f", "null", "-"], capture_output=True, text=True,
                          check=True)
    return int(re.findall(r"frame=\s*(\d+)", done.stderr)[-1])


def _rgb(frame) -> np.ndarray:
    """A decoded frame as uint8 ``(H, W, 3)`` (grey repeated, alpha dropped)."""
    frame = np.asarray(frame)
    if frame.ndim == 2:
        frame = np.repeat(frame[..., None], 3, axis=-1)
    if frame.ndim != 3 or frame.shape[-1] not in (1, 3, 4):
        raise VideoError(f"unexpected frame shape {frame.shape}")
    if frame.shape[-1] == 1:
        frame = np.repeat(frame, 3, axis=-1)
    frame = frame[..., :3]
    if frame.dtype != np.uint8:
        if np.issubdtype(frame.dtype, np.floating):  # 0..1 floats
            frame = np.clip(np.round(frame * 255), 0, 255)
        else:  # 16-bit
            frame = frame >> (8 * (frame.dtype.itemsize - 1))
        frame = frame.astype(np.uint8)
    return np.ascontiguousarray(frame)


def _cover(size, target) -> tuple:
    """The smallest ``(h, w)`` with ``size``'s aspect ratio that covers ``target``."""
    (h, w), (th, tw) = size, target
    s = max(th / h, tw / w)
    return max(th, int(round(h * s))), max(tw, int(round(w * s)))


def resize_frames(frames, size) -> np.ndarray:
    """uint8 frames ``(T, H, W, 3)`` resized to ``size = (h, w)`` (bilinear; antialiased when shrinking)."""
    from PIL import Image

    h, w = size
    frames = np.asarray(frames, np.uint8)
    if frames.shape[1:3] == (h, w):
        return frames
    return np.stack([np.asarray(Image.fromarray(f).resize((w, h), Image.Resampling.BILINEAR))
                     for f in frames])


def center_crop(frames, size) -> np.ndarray:
    """The central ``size = (h, w)`` of frames ``(T, H, W, C)`` (the odd pixel cut at the back)."""
    h, w = size
    top, left = (frames.shape[1] - h) // 2, (frames.shape[2] - w) // 2
    if top < 0 or left < 0:
        raise ValueError(f"cannot crop {h} x {w} from frames of {frames.shape[1]} x {frames.shape[2]}")
    return frames[:, top:top + h, left:left + w]


def fit_frames(frames, size) -> np.ndarray:
    """Frames resized to cover ``size = (h, w)`` with their aspect ratio kept, then centre-cropped.

    A 240 x 320 video fitted to 112 x 112 is resized to 112 x 149 and its
    central 112 columns kept (18 columns cut on the left, 19 on the right).
    """
    frames = np.asarray(frames)
    return center_crop(resize_frames(frames, _cover(frames.shape[1:3], size)), size)


def clip_windows(length: int, frames: int, count=1) -> list:
    """Start frames of ``count`` windows of ``frames`` frames spread evenly over ``length`` frames.

    Parameters
    ----------
    length : int
        Frames in the video (``>= frames``).
    frames : int
        Frames per window.
    count : int or "all"
        ``1``: the central window; ``n``: ``n`` windows from the first to the
        last possible start, evenly spaced (overlapping when the video is
        short); ``"all"``: back-to-back windows from the start (the remainder
        at the end is left out).
    """
    if length < frames:
        raise ValueError(f"{length} frames hold no window of {frames}")
    last = length - frames
    if count == "all":
        return list(range(0, last + 1, frames))
    count = int(count)
    if count < 1:
        raise ValueError(f"windows per clip must be >= 1, got {count}")
    if count == 1:
        return [last // 2]
    if count > last:  # spaced at most a frame apart: every start (without a loop over the count)
        return list(range(last + 1))
    return sorted({int(round(i * last / (count - 1))) for i in range(count)})


def list_videos(folder, suffixes=VIDEO_SUFFIXES) -> tuple:
    """The videos of ``folder`` and their classes.

    A folder of class folders (``folder/<class>/<clip>.mp4``) gives one class
    per subfolder (sorted by name); a flat folder of videos gives one class,
    the folder's name. Hidden files and other suffixes are ignored.

    Returns
    -------
    (list of Path, list of int, list of str)
        Videos (sorted by relative path), their class indices, the class names.

    Raises
    ------
    VideoError
        No such folder, no video in it, or videos both at the top and in class folders.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise VideoError(f"no folder {folder}")

    def videos(d):
        return sorted(p for p in d.iterdir()
                      if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in suffixes)

    top = videos(folder)
    sub = {d.name: videos(d) for d in sorted(folder.iterdir())
           if d.is_dir() and not d.name.startswith(".")}
    sub = {name: found for name, found in sub.items() if found}
    if top and sub:
        raise VideoError(f"{folder} holds videos both at its top ({top[0].name}, ...) and in class "
                         f"folders ({', '.join(sub)}); put every video in a class folder, or "
                         "none")
    if not top and not sub:
        raise VideoError(f"no videos ({', '.join(suffixes)}) in {folder} or its subfolders")
    if top:
        return top, [0] * len(top), [folder.resolve().name]
    paths, labels = [], []
    for c, found in enumerate(sub.values()):
        paths.extend(found)
        labels.extend([c] * len(found))
    return paths, labels, list(sub)
