"""The "animated manuscript": one self-contained folder whose ``index.html`` plays every motion input.

For each result, per visualization: the appearance as a still PNG, the motion
as a looping GIF (flow as RGB = horizontal, vertical, magnitude), grouped by
layer and unit, with the result's full config one click away (a ``<details>``
element, and the JSON file itself linked). No file outside the folder is
referenced; the page checks on load that every image decoded and writes the
outcome into ``#status`` (which the browser test reads).

This module holds the page's pieces: its shell (:func:`page_html`), a card per
visualization (:func:`result_cards`), rows of a real clip beside a
visualization (:func:`pair_rows`), and where their pictures go: files in the
page's folder (:class:`FolderMedia`) or data URLs in a notebook
(:class:`InlineMedia`). The sections of :mod:`.sections` put them together.
"""

from __future__ import annotations

import base64
import html
import json
import re
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import stviz_core as sv

from stviz_core.atomic import atomic_path, safe_name
from stviz_core.html_view import png_bytes
from stviz_core.quality import warnings
from .render import appearance_to_rgb, flow_to_rgb, input_roles, write_gif

__all__ = ["write_manuscript", "collect_results", "text", "attr", "Pair", "FolderMedia", "setting_label",
           "InlineMedia", "page_html", "result_cards", "pair_rows", "notebook_html", "figure_html",
           "cards_html", "layer_groups", "CARD_STYLE", "PAIR_STYLE"]

_PAGE_STYLE = """
.warn { color: #a40; font-size: 0.85em; margin: 0.2em 0; }
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;background:#fafafa}
h1{font-size:1.4em} h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ccc}
"""
#: the styles of cards and figures (scoped under ``.stviz-section`` in a notebook)
CARD_STYLE = """.grid{display:flex;flex-wrap:wrap;gap:14px}
.unit{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px;width:300px}
.unit img{width:140px;height:140px;image-rendering:pixelated;border:1px solid #eee}
.unit .pair{display:flex;gap:6px} .unit .cap{font-size:.8em;color:#555;margin:4px 0}
details{font-size:.75em} pre{white-space:pre-wrap;max-height:18em;overflow:auto;background:#f4f4f4}
.figure img{max-width:100%;border:1px solid #ddd;background:#fff}
"""
_WARN = ".warn{color:#a40;font-size:.85em;margin:.2em 0}"
_STYLE = _PAGE_STYLE + CARD_STYLE + "#status{font-size:.8em;color:#666}\n"

PAIR_STYLE = """
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


def text(value) -> str:
    """``value`` as HTML text (``&``, ``<``, ``>`` and both quotes escaped)."""
    return html.escape(str(value), quote=True)


#: ``value`` inside a quoted attribute: the escaping of :func:`text` covers both quotes
attr = text


def _url(relative: str) -> str:
    return urllib.parse.quote(relative)


class FolderMedia:
    """Where a page's pictures go: files in its folder (``media/``, ``configs/``, figures at the top).

    Every name is made by :func:`safe_name` and made unique on the page; the
    returned ``src`` is a relative URL. ``log`` hears of every figure drawn.
    """

    scale = 3  #: pixels per input pixel of the cards' pictures
    fps = 6.0  #: frames per second of the clips

    def __init__(self, folder, log=None):
        self.folder = Path(folder)
        self.log = log or (lambda *a: None)
        self._used = set()

    def _unique(self, base: str) -> str:
        name, k = safe_name(base), 2
        while name in self._used:
            name, k = f"{safe_name(base)}_{k}", k + 1
        self._used.add(name)
        return name

    def clip(self, base, frames, fps) -> str:
        """A looping GIF of uint8 ``frames`` ``(T, H, W, 3)``."""
        name = f"media/{self._unique(base)}.gif"
        write_gif(frames, self.folder / name, fps=fps)
        return _url(name)

    def still(self, base, image) -> str:
        """A PNG of a uint8 image ``(H, W, 3)``."""
        import imageio.v3 as iio

        name = f"media/{self._unique(base)}.png"
        with atomic_path(self.folder / name) as tmp:
            iio.imwrite(tmp, image, extension=".png")
        return _url(name)

    def figure(self, filename, draw) -> str:
        """``draw(path)`` writes the figure ``filename`` at the top of the folder."""
        self.log(f"figure {draw(self.folder / filename)}")
        return _url(filename)

    def config(self, base, config_text):
        """The config file ``configs/<base>.json``; its URL."""
        name = f"configs/{safe_name(base)}.json"
        with atomic_path(self.folder / name) as tmp:
            tmp.write_text(config_text + "\n")
        return _url(name)


class InlineMedia:
    """The same pictures as data URLs, for a notebook (nothing is written; no config files)."""

    scale, fps = 1, 6.0

    def clip(self, base, frames, fps) -> str:
        import imageio.v3 as iio

        data = iio.imwrite("<bytes>", np.asarray(frames, np.uint8), extension=".gif",
                           duration=1000.0 / fps, loop=0)
        return "data:image/gif;base64," + base64.b64encode(data).decode("ascii")

    def still(self, base, image) -> str:
        return "data:image/png;base64," + base64.b64encode(png_bytes(image)).decode("ascii")

    def figure(self, filename, draw) -> str:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(draw(Path(tmp) / Path(filename).name)).read_bytes()
        return "data:image/png;base64," + base64.b64encode(data).decode("ascii")

    def config(self, base, config_text):
        return None


def page_html(title, bodies, styles=()) -> str:
    """The whole page: its head (styles and the load check), title, legend and ``bodies``."""
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             f"<title>{text(title)}</title><style>{_STYLE}{''.join(styles)}</style>"
             f"<script>{_CHECK}</script></head><body><h1>{text(title)}</h1>"
             "<p>Motion inputs play as loops: red = rightward, green = downward, blue = speed "
             "(each min-max scaled over the clip). Appearance is min-max scaled; appearance "
             "clips (3D networks) play as loops too.</p>"
             "<p id='status'>loading</p>"]
    parts.extend(body for body in bodies if body)
    parts.append("</body></html>")
    return "\n".join(parts)


def notebook_html(sections) -> str:
    """Sections as one ``div`` for a notebook: pictures inline, styles scoped to it."""
    media = InlineMedia()
    bodies = [section.render(media) for section in sections]
    styles = dict.fromkeys(type(s).style for s in sections)
    css = "".join(_scoped(style, ".stviz-section") for style in (CARD_STYLE, _WARN, *styles) if style)
    return f"<div class='stviz-section'><style>{css}</style>{''.join(bodies)}</div>"


def _scoped(css: str, scope: str) -> str:
    """Every rule of ``css`` limited to elements inside ``scope``."""
    rules = re.findall(r"([^{}]+)\{([^{}]*)\}", css)
    return "".join(",".join(f"{scope} {sel.strip()}" for sel in selectors.split(",")) + f"{{{body}}}"
                   for selectors, body in rules)


def _plain_config(config) -> dict:
    """The config as it reads back from its file (JSON types, string keys)."""
    return json.loads(json.dumps(config, default=lambda v: v.tolist() if hasattr(v, "tolist")
                                 else str(v)))


def slowness(result) -> dict:
    """``{input: gamma}`` of the inputs whose temporal slowness acts: eq. 3 on (``lambda_tv`` not 0;
    the default preset leaves eq. 2-3 out, so a gamma it records says nothing)."""
    return {k: v["gamma"] for k, v in (result.config.get("inputs") or {}).items()
            if isinstance(v, dict) and isinstance(v.get("gamma"), (int, float))
            and v.get("lambda_tv") != 0}


def setting_order(item) -> tuple:
    """Sort key of ``(stem, Result)``: runs where gamma does not act first, then gamma, then stem."""
    return (max(slowness(item[1]).values(), default=-1.0), item[0])


def setting_label(result) -> str:
    """A figure column's name: ``gamma = 5`` where gamma acts, else the preset's (``canvas``)."""
    gammas = slowness(result)
    if gammas:
        return f"gamma = {max(gammas.values()):g}"
    return str((result.config.get("preset") or {}).get("name") or "")


def result_cards(media, layer, stem, result, unit_names) -> list:
    """One card per visualization of ``result``: its inputs, caption and config."""
    file_stem = safe_name(stem)
    config = _plain_config(result.config)
    config_text = json.dumps(config, indent=1, sort_keys=True)
    config_url = media.config(file_stem, config_text)
    roles = input_roles(result)
    objectives = config.get("objectives") or [""] * len(result)
    preset = (result.config.get("preset") or {}).get("name")
    settings = ", ".join(([str(preset)] if preset else [])
                         + [f"{k}: gamma {v:g}" for k, v in slowness(result).items()])
    link = (f"<p><a href='{attr(config_url)}'>{text(file_stem)}.json</a></p>"
            if config_url is not None else "")
    cards = []
    for n in range(len(result)):
        cells = [input_cell(media, f"{file_stem}_{n}_{safe_name(name)}", name, x[n], roles[name])
                 for name, x in sorted(result.inputs.items(), key=lambda kv: roles[kv[0]] == "motion")]
        label = objectives[n] if n < len(objectives) else ""
        name = unit_names.get((layer, label))
        quality = (config.get("quality") or [None] * len(result))[n]
        notes = "".join(f"<p class='warn'>warning: {text(w)}</p>" for w in warnings(quality))
        cards.append(
            f"<div class='unit'><div class='cap'><b>{text(name or label)}</b><br>"
            f"{text(stem)} #{n} &middot; {text(settings)}</div>"
            f"<div class='pair'>{''.join(cells)}</div>{notes}"
            f"<details><summary>config</summary>{link}<pre>{text(config_text)}</pre></details></div>")
    return cards


def pair_rows(media, pairs) -> list:
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
                cells = [input_cell(media, f"pair{i}_{j}_{side}_{safe_name(name)}", name, inputs[name],
                                    roles.get(name, "appearance"))
                         for name in sorted(inputs, key=lambda k: roles.get(k) == "motion")]
                sides.append(f"<div class='side'><div class='cap'><b>{text(label)}</b></div>"
                             f"<div class='pair'>{''.join(cells)}</div></div>")
            parts.append(f"<div class='pairrow'>{''.join(sides)}"
                         f"<div class='cap'>{text(pair.caption)}</div></div>")
        parts.append("</div>")
    return parts


def input_cell(media, base, name, x, role) -> str:
    """One input's picture (a looping GIF for motion and appearance clips, a PNG for one
    appearance frame), as a figure."""
    scale = media.scale
    if role == "motion" or len(x) > 1:
        frames = flow_to_rgb(x) if role == "motion" else appearance_to_rgb(x)
        src = media.clip(base, frames.repeat(scale, axis=1).repeat(scale, axis=2), media.fps)
    else:
        img = appearance_to_rgb(x)[0]
        src = media.still(base, img.repeat(scale, axis=0).repeat(scale, axis=1))
    return (f"<figure style='margin:0'><img src='{attr(src)}' alt='{attr(name)}'>"
            f"<div class='cap'>{text(name)} ({text(role)})</div></figure>")


def figure_html(filename, src) -> str:
    """A figure of the page: its file name as heading, the picture at ``src``."""
    return (f"<div class='figure'><h2>{text(filename)}</h2>"
            f"<img src='{attr(src)}' alt='{attr(filename)}'></div>")


def cards_html(media, heading, results, unit_names) -> str:
    """Under ``heading``, the cards of each ``(stem, Result)`` (:func:`result_cards`)."""
    parts = [f"<h2>{text(heading)}</h2><div class='grid'>"]
    for stem, result in results:
        parts.extend(result_cards(media, result.config.get("layer") or "layer", stem, result, unit_names))
    parts.append("</div>")
    return "\n".join(parts)


def layer_groups(results, headings=None) -> list:
    """``[(heading, [(stem, Result), ...]), ...]``: results per layer, runs by gamma then stem;
    the layers of ``headings`` (``{layer: heading}``) first, in its order, the others after under
    ``"layer <name>"``."""
    groups = {}
    for stem, result in sorted(results, key=setting_order):
        groups.setdefault(result.config.get("layer") or "layer", []).append((stem, result))
    headings = dict(headings or {})
    first = [layer for layer in headings if layer in groups]
    return [(headings.get(layer, f"layer {layer}"), groups[layer])
            for layer in first + [layer for layer in groups if layer not in headings]]


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

    Every PNG figure already in ``folder`` is shown between the pairs and the
    cards. Every string from a result, a file name or a model reaches the page
    through :func:`text` or :func:`attr` (escaped), and every file the page
    writes has a name made by :func:`safe_name`, inside ``folder``. No manifest
    is written: :func:`stviz_adapters.media.report.write_report` writes pages
    from sections, and the manifest that rebuilds them.
    """
    folder = Path(folder)
    results = collect_results(folder) if results is None else list(results)
    media = FolderMedia(folder)
    media.scale, media.fps = scale, fps
    bodies = ["\n".join(pair_rows(media, pairs or []))]
    bodies += [figure_html(p.name, _url(p.name)) for p in sorted(folder.glob("*.png"), key=lambda p: p.name)]
    bodies += [cards_html(media, heading, items, unit_names or {})
               for heading, items in layer_groups(results, headings)]
    page = folder / "index.html"
    with atomic_path(page) as tmp:
        tmp.write_text(page_html(title, bodies, [PAIR_STYLE] if pairs else []))
    return page
