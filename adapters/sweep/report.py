"""The report over a sweep's complete cells: unit x gamma figure grids and the animated manuscript.

Cells are grouped into pages by everything but unit and gamma (layer, preset,
kappa, seed, ...); a page's columns are its gamma values and its rows the
units complete at every one of them, at most ``units_per_figure`` per PNG.
"""

from __future__ import annotations

import stviz_core as sv

__all__ = ["write_sweep_report"]


def write_sweep_report(folder, cells, *, title="stviz sweep", units_per_figure=16, log=print):
    """Write ``grid_*.png`` and ``index.html`` into the sweep folder; returns the page's path.

    ``folder`` is a :class:`~stviz_adapters.sweep.run.SweepFolder`; cells without a
    complete result are left out. Returns ``None`` (with a message) when the
    ``media`` extra is not installed.
    """
    from ..media.report import write_report
    from ..media.sections import FigureGrid, cards_by_layer

    pages = {}
    for cell in cells:
        result = folder.load_complete(cell)  # each cell's files are read once
        if result is not None:
            result.config.pop("sweep", None)  # the per-cell entry: without it, cells stack
            key = (cell.layer, cell.preset, cell.kappa, cell.seed, cell.steps, cell.normalize,
                   cell.jitter)
            pages.setdefault(key, {}).setdefault(cell.gamma, {})[cell.unit] = result
    grids, results = [], []
    for (layer, preset, kappa, seed, *_), by_gamma in pages.items():
        gammas = sorted(by_gamma)
        units = sorted(set.intersection(*(set(by_gamma[g]) for g in gammas)))
        if not units:
            continue
        name = f"{layer}_{preset}_k{kappa:g}_s{seed}"
        columns = {g: sv.stack([by_gamma[g][u] for u in units]) for g in gammas}
        for start in range(0, len(units), units_per_figure):
            rows = list(range(start, min(start + units_per_figure, len(units))))
            suffix = f"_units{units[rows[0]]}-{units[rows[-1]]}" if len(units) > units_per_figure else ""
            grids.append(FigureGrid(f"{name}{suffix}", {f"gamma = {g:g}": r for g, r in columns.items()},
                                    f"{layer}: {preset}, kappa {kappa:g}, seed {seed}", units=rows,
                                    unit_labels=[f"unit {units[i]}" for i in rows]))
        results.extend((f"{name}_gamma{g:g}", r) for g, r in columns.items())
    sections = sorted(grids, key=lambda grid: grid.filename) + cards_by_layer(results)
    return write_report(folder.path, sections, title=title, log=log)
