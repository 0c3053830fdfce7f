"""The one report writer: figure grids, the optional layer-by-layer figure and the animated manuscript.

``stviz report``, ``stviz sweep`` and ``stviz demo`` all write their pages
through :func:`write_report`; they differ only in the :class:`Grid` figures
they ask for (grouped by layer, by sweep cell group, or with the demo's
activity bars and top clips).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from stviz_core.atomic import safe_name

from .manuscript import Pair
from .render import max_gamma

__all__ = ["Grid", "Pair", "write_report", "grids_by_layer"]


@dataclass
class Grid:
    """One figure ``grid_<name>.png``: units (rows) x settings (columns, each a Result).

    ``units``, ``unit_labels``, ``activity``, ``channels`` and ``top_clips`` are
    passed on to :func:`stviz_adapters.media.figures.unit_grid`.
    """

    name: str
    columns: dict
    title: str
    units: Optional[list] = None
    unit_labels: Optional[list] = None
    activity: Any = None
    channels: Optional[list] = None
    top_clips: Optional[list] = None


def write_report(folder, grids, *, results=None, title="stviz animated manuscript",
                 by_layer=False, most=8, log=print, unit_names=None,
                 headings=None, pairs=None) -> Optional[Path]:
    """Write the figure grids and ``index.html`` (with its media) into ``folder``.

    Parameters
    ----------
    folder : path
    grids : iterable of Grid
    results : list of (str, Result), optional
        The results the page shows; by default every result saved in ``folder``.
    by_layer : bool
        Also write ``layers.png``: one band per layer, fewer and larger units
        for layers with larger receptive fields (the paper's Figs. 17-19).
    most : int
        With ``by_layer``: units shown for the layer with the smallest field.
    unit_names, headings : dict, optional
        Card titles and layer headings of the page
        (:func:`stviz_adapters.media.manuscript.write_manuscript`).
    pairs : list of Pair, optional
        Real clips beside visualizations (``stviz invert``: each layer's
        reconstruction; ``stviz accentuate``: each unit's accentuated clip),
        shown at the top of the page.

    Returns
    -------
    Path or None
        The page; ``None`` (with a message) when the ``media`` extra is missing.
    """
    try:
        from .figures import drawn_field, layer_grid, unit_grid
        from .manuscript import collect_results, write_manuscript
    except ImportError as exc:  # pragma: no cover - media extra missing
        log(f"no figures or HTML ({exc}); install stviz[media]")
        return None
    folder = Path(folder)
    for grid in grids:
        path = unit_grid(grid.columns, folder / f"grid_{safe_name(grid.name)}.png", units=grid.units,
                         unit_labels=grid.unit_labels, activity=grid.activity,
                         channels=grid.channels, top_clips=grid.top_clips, title=grid.title)
        log(f"figure {path}")
    if by_layer:
        first = {}
        for _, result in (collect_results(folder) if results is None else results):
            first.setdefault(result.config.get("layer") or "layer", result)
        if not first:
            raise ValueError(f"no results in {folder}")
        # shallow to deep: by the field as drawn, then by the cumulative stride (a layer that
        # sees the whole input comes after the convolutions whose field reaches past it)
        ordered = dict(sorted(first.items(), key=lambda kv: (
            drawn_field(kv[1]), (kv[1].config.get("jitter") or {}).get("stride") or 0,
            kv[1].config.get("rho") or 0)))
        log(f"figure {layer_grid(ordered, folder / 'layers.png', most=most)}")
    page = write_manuscript(folder, results, title=title, unit_names=unit_names, headings=headings,
                            pairs=pairs)
    log(f"animated manuscript {page}")
    return page


def grids_by_layer(results) -> list:
    """One :class:`Grid` per layer whose results hold the same number of units, a column per run.

    Columns are labelled by the run's temporal slowness gamma (``gamma = 5``)
    when it has one, else by the result's file stem.
    """
    by_layer = {}
    for stem, result in results:
        by_layer.setdefault(result.config.get("layer") or "layer", []).append((stem, result))
    grids = []
    for layer, items in by_layer.items():
        if len({len(r) for _, r in items}) != 1:
            continue
        columns = {}
        for stem, r in sorted(items, key=lambda item: (max_gamma(item[1]), item[0])):
            g = {v.get("gamma") for v in r.config.get("inputs", {}).values()}
            columns[f"gamma = {max(g):g}" if g else stem] = r
        grids.append(Grid(layer, columns, layer, unit_labels=items[0][1].config.get("objectives")))
    return grids

