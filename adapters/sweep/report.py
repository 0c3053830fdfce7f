"""The report over a sweep's complete cells: unit x gamma figure grids and the animated manuscript.

Cells are grouped into pages by everything but unit and gamma (layer, preset,
kappa, seed, ...); a page's columns are its gamma values and its rows the
units complete at every one of them, at most ``units_per_figure`` per PNG.
The page's sections (:class:`SweepGrid`, :class:`SweepCards`) name their
results in the page's manifest by the cells they were stacked from, so
``stviz report`` rebuilds the page from ``cells/`` without a copy of them.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

import stviz_core as sv

from ..media.sections import FigureGrid, ResultCards, cards_by_layer

__all__ = ["write_sweep_report", "SweepGrid", "SweepCards"]


def write_sweep_report(folder, cells, *, title="stviz sweep", units_per_figure=16, log=print):
    """Write ``grid_*.png`` and ``index.html`` into the sweep folder; returns the page's path.

    ``folder`` is a :class:`~stviz_adapters.sweep.run.SweepFolder`; cells without a
    complete result are left out. Returns ``None`` (with a message) when the
    ``media`` extra is not installed.
    """
    from ..media.report import write_report

    pages = {}
    for cell in cells:
        result = folder.load_complete(cell)  # each cell's files are read once
        if result is not None:
            stackable(result)
            key = (cell.layer, cell.preset, cell.kappa, cell.seed, cell.steps, cell.normalize,
                   cell.jitter)
            pages.setdefault(key, {}).setdefault(cell.gamma, {})[cell.unit] = (cell.id, result)
    grids, results, sources = [], [], {}
    for (layer, preset, kappa, seed, *_), by_gamma in pages.items():
        gammas = sorted(by_gamma)
        units = sorted(set.intersection(*(set(by_gamma[g]) for g in gammas)))
        if not units:
            continue
        name = f"{layer}_{preset}_k{kappa:g}_s{seed}"
        columns = {g: sv.stack([by_gamma[g][u][1] for u in units]) for g in gammas}
        ids = {f"gamma = {g:g}": [by_gamma[g][u][0] for u in units] for g in gammas}
        for start in range(0, len(units), units_per_figure):
            rows = list(range(start, min(start + units_per_figure, len(units))))
            suffix = f"_units{units[rows[0]]}-{units[rows[-1]]}" if len(units) > units_per_figure else ""
            grids.append(SweepGrid(f"{name}{suffix}", {f"gamma = {g:g}": r for g, r in columns.items()},
                                   f"{layer}: {preset}, kappa {kappa:g}, seed {seed}", units=rows,
                                   unit_labels=[f"{layer} unit {units[i]}" for i in rows], cells=ids))
        results.extend((f"{name}_gamma{g:g}", r) for g, r in columns.items())
        sources.update({f"{name}_gamma{g:g}": ids[f"gamma = {g:g}"] for g in gammas})
    cards = [SweepCards(c.title, c.results, c.unit_names, {s: sources[s] for s, _ in c.results})
             for c in cards_by_layer(results)]
    return write_report(folder.path, sorted(grids, key=lambda grid: grid.filename) + cards,
                        title=title, log=log)


def stackable(result):
    """``result`` without what differs from cell to cell of one setting: the per-cell entry
    (``config["sweep"]``) and how its batch ran (the threads, chosen per batch size)."""
    result.config.pop("sweep", None)
    (result.config.get("backend_details") or {}).pop("threads", None)
    return result


class _CellStore:
    """A page's store in which a result stacked from sweep cells is named by its cell ids."""

    def __init__(self, store, sources=None):
        self._store, self._sources = store, sources or {}

    def __getattr__(self, name):
        return getattr(self._store, name)

    def put_result(self, result, hint):
        ids = self._sources.get(id(result))
        return {"cells": list(ids)} if ids is not None else self._store.put_result(result, hint)

    def result(self, ref):
        if not isinstance(ref, dict):
            return self._store.result(ref)
        key = ("sweep cells", *ref["cells"])
        if key not in self._store.memo:
            parts = [self._store.result(f"cells/{self._store.inside(cell)}") for cell in ref["cells"]]
            for part in parts:
                stackable(part)
            self._store.memo[key] = sv.stack(parts)
        return self._store.memo[key]


class _FromCells(abc.ABC):
    """A section whose results are stacked from sweep cells: ``cells`` names them in the manifest."""

    @abc.abstractmethod
    def _sources(self) -> dict:
        """``{id(result): [cell id, ...]}`` of the results the section shows."""

    def record(self, store) -> dict:
        return {**super().record(_CellStore(store, self._sources())), "cells": self.cells}

    @classmethod
    def restore(cls, store, record):
        section = super().restore(_CellStore(store), record)
        section.cells = record["cells"]
        return section


@dataclass
class SweepGrid(_FromCells, FigureGrid):
    """A sweep's figure grid; ``cells`` names, per column, the cells stacked in it."""

    cells: dict = field(default_factory=dict)

    def _sources(self) -> dict:
        return {id(self.columns[label]): ids for label, ids in self.cells.items()}


@dataclass
class SweepCards(_FromCells, ResultCards):
    """A sweep's result cards; ``cells`` names, per stem, the cells stacked in its result."""

    cells: dict = field(default_factory=dict)

    def _sources(self) -> dict:
        return {id(r): self.cells[stem] for stem, r in self.results}
