"""Turning optimized inputs into pictures and videos, as the paper shows them.

* Flow as RGB = (horizontal, vertical, magnitude), each channel min-max scaled
  over the whole sequence (paper, sec. 3 and Fig. 1): red means rightward,
  green downward, blue fast. The Middlebury colour wheel (hue = direction,
  saturation = speed) is the alternative.
* Appearance min-max scaled over the sequence (the paper's convention), or
  de-normalized back to 0..255 by adding the mean the model subtracts.
* Videos: appearance beside motion, as an animated GIF (loops) and an MP4
  (``imageio`` + ``imageio-ffmpeg``, the ``media`` extra), written to a
  temporary name and renamed into place.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stviz_core.atomic import atomic_path

__all__ = ["flow_to_rgb", "flow_to_wheel", "appearance_to_rgb", "side_by_side", "write_gif",
           "write_mp4", "input_roles", "result_frames", "write_result_videos"]


def _minmax(x, lo=None, hi=None):
    lo = x.min() if lo is None else lo
    hi = x.max() if hi is None else hi
    if hi - lo <= 0:
        return np.zeros_like(x, dtype=np.float64)
    return (x - lo) / (hi - lo)


def flow_to_rgb(flow) -> np.ndarray:
    """``(T, H, W, 2)`` flow to ``(T, H, W, 3)`` uint8: R = u, G = v, B = |(u, v)|.

    Each channel is min-max scaled over the whole sequence (all frames together),
    so a rightward field is red-dominant and the blue channel is the
    normalized speed.
    """
    flow = np.asarray(flow, dtype=np.float64)
    if flow.ndim != 4 or flow.shape[-1] != 2:
        raise ValueError(f"flow must be (T, H, W, 2), got shape {flow.shape}")
    mag = np.hypot(flow[..., 0], flow[..., 1])
    rgb = np.stack([_minmax(flow[..., 0]), _minmax(flow[..., 1]), _minmax(mag)], axis=-1)
    return np.round(rgb * 255).astype(np.uint8)


def _wheel():
    """The Middlebury colour wheel (Baker et al. 2011): 55 hues from red through the spectrum."""
    segments = ((15, (255, 0, 0), (255, 255, 0)), (6, (255, 255, 0), (0, 255, 0)),
                (4, (0, 255, 0), (0, 255, 255)), (11, (0, 255, 255), (0, 0, 255)),
                (13, (0, 0, 255), (255, 0, 255)), (6, (255, 0, 255), (255, 0, 0)))
    rows = []
    for n, a, b in segments:
        t = np.arange(n)[:, None] / n
        rows.append(np.array(a) * (1 - t) + np.array(b) * t)
    return np.concatenate(rows) / 255.0


def flow_to_wheel(flow) -> np.ndarray:
    """``(T, H, W, 2)`` flow to uint8 colours of the Middlebury wheel, speed scaled by the sequence maximum."""
    flow = np.asarray(flow, dtype=np.float64)
    if flow.ndim != 4 or flow.shape[-1] != 2:
        raise ValueError(f"flow must be (T, H, W, 2), got shape {flow.shape}")
    u, v = flow[..., 0], flow[..., 1]
    mag = np.hypot(u, v)
    top = mag.max()
    rad = mag / top if top > 0 else mag
    wheel = _wheel()
    n = len(wheel)
    angle = np.arctan2(-v, -u) / np.pi  # -1..1
    k = (angle + 1) / 2 * (n - 1)
    k0 = np.floor(k).astype(int)
    k1 = (k0 + 1) % n
    f = (k - k0)[..., None]
    col = (1 - f) * wheel[k0] + f * wheel[k1]
    col = 1 - rad[..., None] * (1 - col)  # white at zero motion, full colour at top speed
    return np.round(col * 255).astype(np.uint8)


def appearance_to_rgb(x, *, mean=None) -> np.ndarray:
    """``(T, H, W, 3)`` appearance to uint8.

    ``mean=None`` (default) min-max scales over the whole sequence, as the
    paper displays visualizations; with a mean (e.g. the RGB mean the model
    subtracts) the values are shifted back and clipped to 0..255 instead.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"appearance must be (T, H, W, 3), got shape {x.shape}")
    if mean is None:
        return np.round(_minmax(x) * 255).astype(np.uint8)
    return np.clip(np.round(x + np.asarray(mean)), 0, 255).astype(np.uint8)


def side_by_side(appearance, motion, gap: int = 2) -> np.ndarray:
    """Frames with appearance left of motion; a single appearance frame is held for every motion frame."""
    appearance, motion = np.asarray(appearance), np.asarray(motion)
    t = max(len(appearance), len(motion))
    if len(appearance) == 1:
        appearance = np.repeat(appearance, t, axis=0)
    if len(motion) == 1:
        motion = np.repeat(motion, t, axis=0)
    h = max(appearance.shape[1], motion.shape[1])
    pad = lambda a: np.pad(a, ((0, 0), (0, h - a.shape[1]), (0, 0), (0, 0)))  # noqa: E731
    space = np.full((t, h, gap, 3), 255, np.uint8)
    return np.concatenate([pad(appearance), space, pad(motion)], axis=2)


def _atomic(path, write):
    with atomic_path(path) as tmp:
        write(str(tmp))
    return Path(path)


def write_gif(frames, path, *, fps: float = 8.0):
    """An animated, looping GIF of uint8 frames ``(T, H, W, 3)``."""
    import imageio.v3 as iio

    frames = np.asarray(frames, dtype=np.uint8)
    return _atomic(path, lambda tmp: iio.imwrite(tmp, frames, extension=".gif",
                                                 duration=1000.0 / fps, loop=0))


def write_mp4(frames, path, *, fps: float = 8.0, scale: int = 4):
    """An H.264 MP4 of uint8 frames, each pixel enlarged ``scale`` times (nearest)."""
    import imageio.v3 as iio

    frames = np.asarray(frames, dtype=np.uint8)
    if scale > 1:
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
    h, w = frames.shape[1:3]
    frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)))  # H.264 needs even sizes
    return _atomic(path, lambda tmp: iio.imwrite(tmp, frames, extension=".mp4", fps=fps,
                                                 codec="libx264", macro_block_size=1))


def max_gamma(result) -> float:
    """The largest temporal slowness of a result's inputs (sorts runs numerically: 0, 1, 5, 10)."""
    gammas = [v.get("gamma") for v in result.config.get("inputs", {}).values()
              if isinstance(v, dict) and isinstance(v.get("gamma"), (int, float))]
    return max(gammas) if gammas else -1.0


def input_roles(result) -> dict:
    """``{input name: "appearance" | "motion"}``: the role the result's config records,
    else motion for two-channel (u, v) inputs."""
    recorded = result.config.get("inputs", {})
    return {name: recorded.get(name, {}).get("role")
            or ("motion" if x.shape[-1] == 2 else "appearance")
            for name, x in result.inputs.items()}


def result_frames(result, n: int, *, motion="components", mean=None) -> dict:
    """Uint8 frames of visualization ``n`` of a result, per input name (appearance or flow)."""
    out = {}
    for name, role in input_roles(result).items():
        x = result.inputs[name][n]
        if role == "motion":
            out[name] = flow_to_wheel(x) if motion == "wheel" else flow_to_rgb(x)
        else:
            out[name] = appearance_to_rgb(x, mean=mean)
    return out


def write_result_videos(result, out_dir, stem, *, fps=8.0, mp4=True, motion="components") -> list:
    """GIF (and MP4) per visualization: appearance beside motion. Returns the paths written."""
    roles = input_roles(result)
    written = []
    for n in range(len(result)):
        frames = result_frames(result, n, motion=motion)
        apps = [f for k, f in frames.items() if roles[k] == "appearance"]
        mots = [f for k, f in frames.items() if roles[k] == "motion"]
        video = side_by_side(apps[0], mots[0]) if apps and mots else (apps or mots)[0]
        written.append(write_gif(video, Path(out_dir) / f"{stem}_{n}.gif", fps=fps))
        if mp4:
            written.append(write_mp4(video, Path(out_dir) / f"{stem}_{n}.mp4", fps=fps))
    return written
