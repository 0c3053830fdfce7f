"""The "animated manuscript": one self-contained folder whose ``index.html`` plays every motion input.

For each saved result (one ``.npz`` + ``.json`` pair), per visualization: the
appearance as a still PNG, the motion as a looping GIF (flow as RGB =
horizontal, vertical, magnitude), grouped by layer and unit, with the
result's full config one click away (a ``<details>`` element, and the JSON
file itself linked). Figure grids found in the folder are shown on top. No
file outside the folder is referenced; the page checks on load that every
image decoded and writes the outcome into ``#status`` (which the browser
test reads).
"""

from __future__ import annotations

import html
import json
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import stviz_core as sv

from stviz_core.atomic import atomic_path, safe_name
from stviz_core.quality import warnings
from .render import appearance_to_rgb, flow_to_rgb, input_roles, max_gamma, write_gif

__all__ = ["write_manuscript", "collect_results", "text", "attr", "Pair"]

_STYLE = """
.warn { color: #a40; font-size: 0.85em; margin: 0.2em 0; }
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.4em} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
.grid{display:flex;flex-wrap:wrap;gap:14px}
.unit{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px;width:300px}
.unit img{width:140px;height:140px;image-rendering:pixelated;border:1px solid #eee}
.unit .pair{display:flex;gap:6px} .unit .cap{font-size:.8em;color:#555;margin:4px 0}
details{font-size:.75em} pre{white-space:pre-wrap;max-height:18em;overflow:auto;background:#f4f4f4}
.figure img{max-width:100%;border:1px solid #ddd;background:#fff}
#status{font-size:.8em;color:#666}
"""

_PAIR_STYLE = """
.pairs{display:flex;flex-direction:column;gap:10px}
.pairrow{display:flex;gap:18px;align-items:flex-start;background:#fff;border:1px solid #ddd;
border-radius:6px;padding:8px}
.pairrow .side{display:flex;flex-direction:column} .pairrow .side .pair{display:flex;gap:6px}
.pairrow img{width:140px;height:140px;image-rendering:pixelated;border:1px solid #eee}
.pairrow .cap{font-size:.8em;color:#555;margin:4px 0;max-width:22em}
"""

_CHECK = """
window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push(String(e.message || e)); }, true);
window.addEventListener('load', function () {
  var imgs = Array.prototype.slice.call(document.images);
  var broken = imgs.filter(function (i) { return !(i.complete && i.naturalWidth > 0); });
  var s = document.getElementById('status');
  s.textContent = 'images: ' + imgs.length + ', broken: ' + broken.length +
    ', errors: ' + window.__errors.length;
  s.setAttribute('data-ok', String(broken.length === 0 && window.__errors.length === 0));
});
"""


@dataclass
class Pair:
    """A real clip beside one visualization of a result (an inversion's reconstruction, an
    accentuated clip): one row of the page's comparison section.

    Attributes
    ----------
    heading : str
        The section the row goes under (e.g. ``"Reconstructions from Mixed_4f"``).
    clip : dict of str to ndarray
        The real clip, ``{name: (T, H, W, C)}`` (one item).
    result : Result
    item : int
        Which visualization of ``result``.
    caption : str
        Shown under the row (the feature error, the unit's change, ...).
    labels : tuple of str
        Titles of the two sides.
    """

    heading: str
    clip: dict
    result: object
    item: int = 0
    caption: str = ""
    labels: tuple = field(default=("real clip", "reconstruction"))


def collect_results(folder) -> list:
    """``[(stem, Result), ...]`` for every complete result pair in ``folder``, sorted by name."""
    out = []
    for json_path in sorted(Path(folder).glob("*.json")):
        if json_path.with_suffix(".npz").exists():
            try:
                out.append((json_path.stem, sv.load(json_path)))
            except (ValueError, KeyError):
                continue  # not a stviz result (e.g. summary.json)
    return out


def _write_png(img, path):
    import imageio.v3 as iio

    with atomic_path(path) as tmp:
        iio.imwrite(tmp, img, extension=".png")


def write_manuscript(folder, results=None, *, title="stviz animated manuscript", fps=6.0,
                     scale=3, unit_names=None, headings=None, pairs=None) -> Path:
    """Write ``index.html`` and its media into ``folder``; returns the page's path.

    Parameters
    ----------
    folder : path
        Where the page goes (``media/`` and ``configs/`` are created in it).
    results : list of (str, Result), optional
        Default: every result saved in ``folder`` (:func:`collect_results`).
    unit_names : dict, optional
        ``{(layer, objective description): name}``: the card's title (e.g.
        ``"Logits: playing cricket"``) in place of the objective's description,
        which stays in the config.
    headings : dict, optional
        ``{layer: heading}``: these layers' groups come first, in this order,
        under these headings (others follow under ``"layer <name>"``).
    pairs : list of Pair, optional
        Real clips beside results' visualizations, shown first, grouped by
        their heading in order (inversion and accentuation pages).

    Every string from a result, a file name or a model reaches the page through
    :func:`text` or :func:`attr` (escaped), and every file the page writes has a
    name made by :func:`safe_name`, inside ``folder``.
    """
    folder = Path(folder)
    results = collect_results(folder) if results is None else list(results)
    groups = {}
    for stem, result in sorted(results, key=lambda item: (max_gamma(item[1]), item[0])):
        groups.setdefault(result.config.get("layer") or "layer", []).append((stem, result))
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>{text(title)}</title><style>{_STYLE}{_PAIR_STYLE if pairs else ''}</style>"
             f"<script>{_CHECK}</script></head><body><h1>{text(title)}</h1>"
             "<p>Motion inputs play as loops: red = rightward, green = downward, blue = speed "
             "(each min-max scaled over the clip). Appearance is min-max scaled; appearance "
             "clips (3D networks) play as loops too.</p>"
             "<p id='status'>loading</p>"]
    parts.extend(_pair_rows(folder, pairs or [], fps, scale))
    for name in sorted(p.name for p in folder.glob("*.png")):
        parts.append(f"<div class='figure'><h2>{text(name)}</h2>"
                     f"<img src='{attr(_url(name))}' alt='{attr(name)}'></div>")
    headings = dict(headings or {})
    first = [layer for layer in headings if layer in groups]
    for layer in first + [layer for layer in groups if layer not in headings]:
        items = groups[layer]
        parts.append(f"<h2>{text(headings.get(layer, f'layer {layer}'))}</h2><div class='grid'>")
        for stem, result in items:
            parts.extend(_cards(folder, layer, stem, result, unit_names or {}, fps, scale))
        parts.append("</div>")
    parts.append("</body></html>")
    page = folder / "index.html"
    with atomic_path(page) as tmp:
        tmp.write_text("\n".join(parts))
    return page


def text(value) -> str:
    """``value`` as HTML text (``&``, ``<``, ``>`` and both quotes escaped)."""
    return html.escape(str(value), quote=True)


#: ``value`` inside a quoted attribute: the escaping of :func:`text` covers both quotes
attr = text


def _url(relative: str) -> str:
    return urllib.parse.quote(relative)


def _cards(folder, layer, stem, result, unit_names, fps, scale):
    """One card per visualization of ``result``: its inputs, caption and config."""
    file_stem = safe_name(stem)
    config_text = json.dumps(result.config, indent=1, sort_keys=True)
    with atomic_path(folder / "configs" / f"{file_stem}.json") as tmp:
        tmp.write_text(config_text + "\n")
    roles = input_roles(result)
    objectives = result.config.get("objectives") or [""] * len(result)
    gamma = {k: v.get("gamma") for k, v in result.config.get("inputs", {}).items()
             if isinstance(v, dict)}
    settings = ", ".join(f"{k}: gamma {v:g}" for k, v in gamma.items() if v is not None)
    config_url = _url(f"configs/{file_stem}.json")
    cards = []
    for n in range(len(result)):
        cells = [_input_cell(folder, f"{file_stem}_{n}_{safe_name(name)}", name, x[n], roles[name],
                             fps, scale)
                 for name, x in sorted(result.inputs.items(), key=lambda kv: roles[kv[0]] == "motion")]
        label = objectives[n] if n < len(objectives) else ""
        name = unit_names.get((layer, label))
        quality = (result.config.get("quality") or [None] * len(result))[n]
        notes = "".join(f"<p class='warn'>warning: {text(w)}</p>" for w in warnings(quality))
        cards.append(
            f"<div class='unit'><div class='cap'><b>{text(name or label)}</b><br>"
            f"{text(stem)} #{n} &middot; {text(settings)}</div>"
            f"<div class='pair'>{''.join(cells)}</div>{notes}"
            f"<details><summary>config</summary><p><a href='{attr(config_url)}'>"
            f"{text(file_stem)}.json</a></p><pre>{text(config_text)}</pre></details></div>")
    return cards


def _pair_rows(folder, pairs, fps, scale):
    """The comparison section: per heading, rows of a real clip beside a visualization."""
    parts, groups = [], {}
    for pair in pairs:
        groups.setdefault(pair.heading, []).append(pair)
    for i, (heading, rows) in enumerate(groups.items()):
        parts.append(f"<h2>{text(heading)}</h2><div class='pairs'>")
        for j, pair in enumerate(rows):
            roles = input_roles(pair.result)
            sides = []
            for side, (label, inputs) in enumerate(
                    ((pair.labels[0], pair.clip),
                     (pair.labels[1], {k: v[pair.item] for k, v in pair.result.inputs.items()}))):
                cells = [_input_cell(folder, f"pair{i}_{j}_{side}_{safe_name(name)}", name,
                                     inputs[name], roles.get(name, "appearance"), fps, scale)
                         for name in sorted(inputs, key=lambda k: roles.get(k) == "motion")]
                sides.append(f"<div class='side'><div class='cap'><b>{text(label)}</b></div>"
                             f"<div class='pair'>{''.join(cells)}</div></div>")
            parts.append(f"<div class='pairrow'>{''.join(sides)}"
                         f"<div class='cap'>{text(pair.caption)}</div></div>")
        parts.append("</div>")
    return parts


def _input_cell(folder, base, name, x, role, fps, scale):
    """Write one input's media (a looping GIF for motion and appearance clips, a PNG for one
    appearance frame); its figure."""
    if role == "motion" or len(x) > 1:
        frames = flow_to_rgb(x) if role == "motion" else appearance_to_rgb(x)
        frames = frames.repeat(scale, axis=1).repeat(scale, axis=2)
        write_gif(frames, folder / "media" / f"{base}.gif", fps=fps)
        src = f"media/{base}.gif"
    else:
        img = appearance_to_rgb(x)[0]
        _write_png(img.repeat(scale, axis=0).repeat(scale, axis=1), folder / "media" / f"{base}.png")
        src = f"media/{base}.png"
    return (f"<figure style='margin:0'><img src='{attr(_url(src))}' alt='{attr(name)}'>"
            f"<div class='cap'>{text(name)} ({text(role)})</div></figure>")
