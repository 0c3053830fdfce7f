"""A seeded generator of short action clips with real TV-L1 optical flow, for the demo model.

Eight classes, each an object with an appearance and a motion, over a
procedural texture background:

=====  ==============  ===========================  =====================
label  name            object                       motion
=====  ==============  ===========================  =====================
0      ball_right      red textured disk            translation right
1      ball_left       red textured disk            translation left
2      ball_up         red textured disk            translation up
3      ball_down       red textured disk            translation down
4      square_right    blue checkered square        translation right
5      spin            yellow pinwheel              rotation
6      expand          red textured disk            growing (expansion)
7      oscillate       red textured disk            horizontal oscillation
=====  ==============  ===========================  =====================

``ball_right`` / ``ball_left`` share appearance and differ only in motion;
``ball_right`` / ``square_right`` share motion and differ only in appearance.
Speeds, sizes, positions, textures and colours vary per clip.

A sample is the two-stream input, made by the conventions of
:mod:`stviz_adapters.video_inputs` (:func:`~stviz_adapters.video_inputs.two_stream_inputs`):
the middle frame as mean-subtracted RGB (``(1, H, W, 3)``, 0..255 scale) and the
stack of ``L = FRAMES - 1`` TV-L1 flow fields between consecutive frames
(``(L, H, W, 2)``, ``(u, v)``, pixels per frame times :data:`FLOW_SCALE`, so
that typical motion spans about +-B/2 with B = 160, ``docs/architecture.md`` sec. 3).
Splits are cached on disk under a key that includes :data:`GENERATOR_VERSION`;
a cache written by another version is rebuilt, never used.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..video_inputs import FLOW_SCALE, MEAN_RGB, tvl1_flow, two_stream_inputs

__all__ = ["CLASSES", "GENERATOR_VERSION", "FLOW_SCALE", "MEAN_RGB", "SIZE", "FRAMES",
           "render_clip", "tvl1_flow", "Split", "make_split"]

GENERATOR_VERSION = 1
CLASSES = ("ball_right", "ball_left", "ball_up", "ball_down", "square_right", "spin", "expand",
           "oscillate")
SIZE, FRAMES = 64, 11
SPLIT_SEEDS = {"train": 1000, "val": 2000, "test": 3000}


def _smooth_noise(rng, size, cells, channels):
    import cv2

    low = rng.random((cells, cells, channels)).astype(np.float32)
    out = cv2.resize(low, (size, size), interpolation=cv2.INTER_CUBIC)
    return out.reshape(size, size, channels)


def _background(rng, size):
    tex = _smooth_noise(rng, size, rng.integers(4, 10), 3) * 0.6 + _smooth_noise(rng, size, 24, 1) * 0.4
    tint = rng.uniform(0.35, 0.75, 3)
    return np.clip(tex * tint * 255 * 1.2, 0, 255).astype(np.float32)


def _object_texture(rng, kind, n=48):
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) - (n - 1) / 2
    if kind == "ball":
        base = np.array([220, 40, 35], np.float32) * rng.uniform(0.85, 1.1)
        pattern = 0.75 + 0.25 * _smooth_noise(rng, n, 8, 1)[..., 0]
        stripes = 0.85 + 0.15 * np.sin((xx + yy) * rng.uniform(0.6, 1.0))
        return np.clip(base * (pattern * stripes)[..., None], 0, 255)
    if kind == "square":
        base = np.array([40, 70, 220], np.float32) * rng.uniform(0.85, 1.1)
        check = ((np.floor(xx / 4) + np.floor(yy / 4)) % 2) * 0.35 + 0.65
        return np.clip(base * check[..., None], 0, 255)
    base = np.array([235, 210, 40], np.float32) * rng.uniform(0.85, 1.1)  # pinwheel
    angle = np.arctan2(yy, xx)
    blades = (np.sin(4 * angle) > 0) * 0.55 + 0.45
    return np.clip(base * blades[..., None], 0, 255)


def _shape_mask(kind, u, v, r):
    if kind == "square" or kind == "pinwheel":
        return np.clip(r - np.maximum(np.abs(u), np.abs(v)) + 0.5, 0, 1)
    return np.clip(r - np.hypot(u, v) + 0.5, 0, 1)


def _trajectory(label, rng, size, frames):
    """Per-frame (cx, cy, angle, scale) of the object."""
    t = np.arange(frames, dtype=np.float32)
    speed = rng.uniform(2.0, 3.5)
    margin = 14
    travel = speed * (frames - 1)
    cx = np.full(frames, rng.uniform(margin + 6, size - margin - 6), np.float32)
    cy = np.full(frames, rng.uniform(margin + 6, size - margin - 6), np.float32)
    angle = np.zeros(frames, np.float32)
    scale = np.ones(frames, np.float32)
    name = CLASSES[label]
    start = lambda: rng.uniform(margin, size - margin - travel)  # noqa: E731
    if name in ("ball_right", "square_right"):
        cx = start() + speed * t
    elif name == "ball_left":
        cx = size - start() - speed * t
    elif name == "ball_down":
        cy = start() + speed * t
    elif name == "ball_up":
        cy = size - start() - speed * t
    elif name == "spin":
        angle = rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 0.3) * t
    elif name == "expand":
        scale = 1.0 + rng.uniform(0.08, 0.12) * t
    elif name == "oscillate":
        period = rng.uniform(4.5, 6.0)
        cx = cx + rng.uniform(6, 9) * np.sin(2 * np.pi * t / period + rng.uniform(0, 2 * np.pi))
    return cx, cy, angle, scale


def render_clip(label: int, rng, size: int = SIZE, frames: int = FRAMES) -> np.ndarray:
    """One clip of class ``label`` as uint8 RGB frames ``(frames, size, size, 3)``."""
    import cv2

    name = CLASSES[label]
    kind = "square" if name == "square_right" else "pinwheel" if name == "spin" else "ball"
    radius = rng.uniform(7.0, 9.5) if kind == "ball" else rng.uniform(7.5, 9.5)
    if name == "expand":
        radius = rng.uniform(5.0, 6.5)
    background = _background(rng, size)
    texture = _object_texture(rng, kind)
    n = texture.shape[0]
    cx, cy, angle, scale = _trajectory(label, rng, size, frames)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    out = np.empty((frames, size, size, 3), np.uint8)
    for f in range(frames):
        c, s = np.cos(angle[f]), np.sin(angle[f])
        dx, dy = (xx - cx[f]) / scale[f], (yy - cy[f]) / scale[f]
        u, v = c * dx + s * dy, -s * dx + c * dy  # object coordinates
        mask = _shape_mask("square" if kind != "ball" else "ball", u, v, radius)[..., None]
        sample = cv2.remap(texture, (u + (n - 1) / 2).astype(np.float32),
                           (v + (n - 1) / 2).astype(np.float32), cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REFLECT)
        frame = background * (1 - mask) + sample * mask + rng.normal(0, 2.0, background.shape)
        out[f] = np.clip(frame, 0, 255).astype(np.uint8)
    return out


@dataclass
class Split:
    """A split of the dataset as model inputs in canonical layout.

    Attributes
    ----------
    rgb : ndarray, float32 ``(N, 1, H, W, 3)``, mean-subtracted.
    flow : ndarray, float32 ``(N, L, H, W, 2)``, scaled by :data:`FLOW_SCALE`.
    labels : ndarray, int64 ``(N,)``.
    """

    rgb: np.ndarray
    flow: np.ndarray
    labels: np.ndarray

    def __len__(self):
        return len(self.labels)

    def inputs(self, index=slice(None)):
        return {"rgb": self.rgb[index], "flow": self.flow[index]}


def _key(split, per_class, size):
    text = f"v{GENERATOR_VERSION}-{split}-{per_class}-{size}-{FRAMES}-{FLOW_SCALE}"
    return text, hashlib.sha256(text.encode()).hexdigest()[:12]


def cache_dir() -> Path:
    return Path(os.environ.get("STVIZ_CACHE", Path.home() / ".cache" / "stviz"))


def make_split(split: str = "val", per_class: int = 25, *, size: int = SIZE, cache=True,
               progress=None) -> Split:
    """Render ``per_class`` clips of every class for ``split`` (train, val or test), with flow.

    Deterministic: the split's seed and the clip index fix every clip. Cached in
    ``$STVIZ_CACHE`` (default ``~/.cache/stviz``) as float16 under a key of the
    generator version and settings.
    """
    if split not in SPLIT_SEEDS:
        raise ValueError(f"unknown split {split!r}; valid choices: {', '.join(SPLIT_SEEDS)}")
    text, digest = _key(split, per_class, size)
    path = cache_dir() / f"actions-{split}-{digest}.npz"
    if cache and path.exists():
        with np.load(path, allow_pickle=False) as data:
            if str(data["key"]) == text:
                return Split(data["rgb"].astype(np.float32), data["flow"].astype(np.float32),
                             data["labels"].astype(np.int64))
        path.unlink()  # written by another generator version: rebuild
    rgbs, flows, labels = [], [], []
    total = per_class * len(CLASSES)
    for i in range(total):
        label = i % len(CLASSES)
        rng = np.random.default_rng([SPLIT_SEEDS[split], i])
        rgb, flow = two_stream_inputs(render_clip(label, rng, size), 1, FRAMES - 1)
        rgbs.append(rgb)
        flows.append(flow)
        labels.append(label)
        if progress is not None:
            progress(i + 1, total)
    # stored as float16: round now, so a fresh split and a cached one are the same numbers
    out = Split(np.stack(rgbs).astype(np.float16).astype(np.float32),
                np.stack(flows).astype(np.float16).astype(np.float32), np.array(labels, np.int64))
    if cache:
        from stviz_core.atomic import atomic_path

        with atomic_path(path) as tmp:
            np.savez(tmp, key=np.array(text), rgb=out.rgb.astype(np.float16),
                     flow=out.flow.astype(np.float16), labels=out.labels)
    return out
