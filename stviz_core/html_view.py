"""A result in a notebook: its clips and flow playing inline, with numpy and the standard library only.

:meth:`stviz_core.Result._repr_html_` calls :func:`result_html`, so a result
left as the last value of a Jupyter cell shows every visualization: each
input of each visualization is one element that plays its frames in a loop.
The kernel imports no image library, so the pictures are made here:

* :func:`png_bytes` writes a PNG with ``zlib`` and ``struct`` (8-bit RGB, no
  filtering);
* a clip is one PNG, its frames side by side (a sprite sheet), shown as the
  background of a ``div`` whose position a CSS animation moves by one frame
  at a time (``steps(T)``); a single frame is the same element, still;
* appearance is min-max scaled over the clip (the paper's convention), flow
  is coloured by a colour wheel (:func:`flow_colours`: hue = direction, red
  rightward; saturation = speed over the clip's top speed; white = no
  motion), as in :func:`stviz_adapters.media.render.flow_to_wheel`.

Every string from the result reaches the HTML escaped (:func:`html.escape`).
Large results are shown in part: at most ``max_items`` visualizations,
``max_frames`` frames (evenly spaced) and ``max_side`` pixels a side
(strided), each limit stated under the view when it applies.
"""

from __future__ import annotations

import base64
import html
import json
import struct
import zlib

import numpy as np

__all__ = ["png_bytes", "flow_colours", "appearance_colours", "clip_html", "result_html", "STYLE"]

#: the view's CSS, scoped to its own classes (a notebook's page keeps its styles)
STYLE = (".stviz-view{font-family:system-ui,sans-serif;font-size:13px}"
         ".stviz-view .stviz-card{display:inline-block;vertical-align:top;margin:4px;padding:6px;"
         "border:1px solid #ddd;border-radius:6px}"
         ".stviz-view figure{display:inline-block;margin:2px;text-align:center}"
         ".stviz-view figcaption,.stviz-view .stviz-note{font-size:11px;color:#555}"
         ".stviz-view .stviz-clip{image-rendering:pixelated;background-repeat:no-repeat}"
         ".stviz-view .stviz-warn{font-size:11px;color:#a40}")


def png_bytes(image) -> bytes:
    """A PNG file of a uint8 image ``(H, W, 3)`` (RGB) or ``(H, W, 4)`` (RGBA).

    Raises
    ------
    ValueError
        Not a uint8 array of that shape.
    """
    img = np.asarray(image)
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] not in (3, 4) or 0 in img.shape:
        raise ValueError(f"a PNG needs a uint8 image (H, W, 3) or (H, W, 4), got {img.dtype} "
                         f"{img.shape}")
    height, width, channels = img.shape
    rows = np.concatenate([np.zeros((height, 1), np.uint8), img.reshape(height, -1)], axis=1)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2 if channels == 3 else 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b""))


def flow_colours(flow) -> np.ndarray:
    """``(T, H, W, 2)`` flow ``(u, v)`` to ``(T, H, W, 3)`` uint8 by a colour wheel.

    Hue is the direction (red rightward, then yellow, green, cyan downward...
    turning as ``atan2(v, u)``), saturation the speed over the clip's top
    speed, value 1: no motion is white.
    """
    flow = np.asarray(flow, dtype=np.float64)
    if flow.ndim != 4 or flow.shape[-1] != 2:
        raise ValueError(f"flow must be (T, H, W, 2), got shape {flow.shape}")
    speed = np.hypot(flow[..., 0], flow[..., 1])
    top = speed.max()
    sat = speed / top if top > 0 else np.zeros_like(speed)
    hue6 = (np.arctan2(flow[..., 1], flow[..., 0]) / (2 * np.pi) % 1.0) * 6
    sector = np.floor(hue6).astype(int) % 6
    frac = hue6 - np.floor(hue6)
    one = np.ones_like(sat)
    p, q, t = 1 - sat, 1 - sat * frac, 1 - sat * (1 - frac)
    rgb = [np.choose(sector, parts) for parts in ((one, q, p, p, t, one), (t, one, one, q, p, p),
                                                  (p, p, t, one, one, q))]
    return np.round(np.stack(rgb, axis=-1) * 255).astype(np.uint8)


def appearance_colours(x) -> np.ndarray:
    """``(T, H, W, 3)`` appearance to uint8, min-max scaled over the whole clip."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"appearance must be (T, H, W, 3), got shape {x.shape}")
    lo, hi = x.min(), x.max()
    scaled = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    return np.round(scaled * 255).astype(np.uint8)


def _shrunk(frames, max_frames, max_side):
    """Evenly spaced frames (at most ``max_frames``), every k-th pixel so a side is <= ``max_side``."""
    picks = np.unique(np.linspace(0, len(frames) - 1, min(len(frames), max_frames)).round().astype(int))
    step = -(-max(frames.shape[1:3]) // max_side)
    return frames[picks, ::step, ::step]


def clip_html(frames, *, label="", fps=8.0, size=128) -> tuple:
    """One clip as ``(html, css)``: a ``div`` playing uint8 ``frames`` ``(T, H, W, 3)`` in a loop.

    The frames are one PNG sprite sheet (side by side); a CSS animation with
    ``steps(T)`` shows them in turn, ``T / fps`` seconds a loop. ``css`` is the
    ``@keyframes`` rule the element names (shared by clips of the same frame
    count and width); the element is drawn about ``size`` pixels a side.
    """
    frames = np.asarray(frames, dtype=np.uint8)
    count, height, width = frames.shape[:3]
    zoom = max(1, size // max(height, width))
    w, h = width * zoom, height * zoom
    sheet = frames.transpose(1, 0, 2, 3).reshape(height, count * width, 3)
    data = base64.b64encode(png_bytes(sheet)).decode("ascii")
    style = (f"width:{w}px;height:{h}px;background-image:url(data:image/png;base64,{data});"
             f"background-size:{count * w}px {h}px")
    css = ""
    if count > 1:
        name = f"stviz-play-{count}-{w}"
        css = f"@keyframes {name}{{from{{background-position:0 0}}to{{background-position:-{count * w}px 0}}}}"
        style += f";animation:{name} {count / fps:.4g}s steps({count}) infinite"
    label = html.escape(str(label), quote=True)
    return (f"<figure><div class='stviz-clip' role='img' aria-label='{label}' data-frames='{count}' "
            f"style='{style}'></div><figcaption>{label}</figcaption></figure>", css)


def _roles(result) -> dict:
    recorded = result.config.get("inputs") or {}
    return {name: (recorded.get(name) or {}).get("role")
            or ("motion" if np.shape(x)[-1] == 2 else "appearance")
            for name, x in result.inputs.items()}


def result_html(result, *, title=None, max_items=16, max_frames=32, max_side=128, fps=8.0) -> str:
    """The HTML a notebook shows for a :class:`~stviz_core.Result`.

    Parameters
    ----------
    result : Result
    title : str, optional
        Default: the layer and the number of visualizations.
    max_items, max_frames, max_side : int
        Visualizations, frames per clip and pixels a side shown at most.
    fps : float
        Frames per second of the loops.

    Returns
    -------
    str
        One ``div`` (scoped styles included): per visualization a card with its
        objective, one playing element per input (appearance first, then
        motion), and its quality warnings; the config under ``details``.
    """
    from .quality import warnings

    config = result.config
    roles = _roles(result)
    names = sorted(result.inputs, key=lambda k: roles[k] == "motion")
    count = len(result)
    if title is None:
        title = f"layer {config.get('layer', '?')}: {count} visualization{'s' * (count != 1)}"
    objectives = list(config.get("objectives") or [])
    quality = list(config.get("quality") or [])
    cards, rules = [], {}
    for n in range(min(count, max_items)):
        cells = []
        for name in names:
            x = np.asarray(result.inputs[name][n])
            frames = flow_colours(x) if roles[name] == "motion" else appearance_colours(x)
            cell, css = clip_html(_shrunk(frames, max_frames, max_side),
                                  label=f"{name} ({roles[name]})", fps=fps)
            cells.append(cell)
            rules[css] = None
        notes = "".join(f"<p class='stviz-warn'>warning: {html.escape(w)}</p>"
                        for w in warnings(quality[n] if n < len(quality) else None))
        label = objectives[n] if n < len(objectives) else f"#{n}"
        cards.append(f"<div class='stviz-card'><div><b>{html.escape(str(label))}</b></div>"
                     f"{''.join(cells)}{notes}</div>")
    limits = [f"{max_items} of {count} visualizations"] if count > max_items else []
    longest = max((np.shape(x)[1] for x in result.inputs.values()), default=0)
    if longest > max_frames:
        limits.append(f"{max_frames} of {longest} frames")
    note = f"<p class='stviz-note'>showing {', '.join(limits)}</p>" if limits else ""
    try:
        text = json.dumps(config, indent=1, sort_keys=True, default=_plain)
    except TypeError:  # keys of mixed types cannot be sorted
        text = json.dumps(config, indent=1, default=_plain)
    return (f"<div class='stviz-view'><style>{STYLE}{''.join(r for r in rules if r)}</style>"
            f"<h3>{html.escape(str(title))}</h3>{''.join(cards)}{note}"
            f"<details><summary>config</summary><pre>{html.escape(text)}</pre></details></div>")


def _plain(value):
    """JSON for the numpy values a config may hold; anything else as its text."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)
