"""Report sections: the parts of a report page, each an object that draws itself.

A section has a ``title`` and renders its figures, cards and notes to HTML
through a media writer (:class:`~.manuscript.FolderMedia` for a page's
folder, :class:`~.manuscript.InlineMedia` for a notebook, where
``section._repr_html_()`` shows it). ``record(store)`` gives the JSON the
page's manifest keeps of it (results and arrays saved through the store) and
``restore(store, record)`` builds it again, so ``stviz report`` rebuilds any
folder from its manifest without knowing who wrote it
(:func:`stviz_adapters.media.report.rebuild_report`).

A page shows its sections by ``order`` (comparisons 0, figures 1, cards 2),
in the order given within one. A new kind of section is one subclass of
:class:`Section` (in any module of ``stviz_adapters``) and the caller that
puts it on its page; the writer and ``stviz report`` need no change.
"""

from __future__ import annotations

import abc
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar, Optional

import numpy as np

from stviz_core.atomic import safe_name

from .manuscript import (PAIR_STYLE, Pair, cards_html, figure_html, layer_groups, notebook_html,
                         pair_rows, setting_label, setting_order)

__all__ = ["Section", "FigureGrid", "LayerFigure", "ResultCards", "ClipPairs", "grids_by_layer",
           "cards_by_layer", "unit_title"]


class Section(abc.ABC):
    """One part of a report page (module notes).

    Subclasses set ``title`` and implement :meth:`render`, :meth:`record` and
    :meth:`restore`; ``order`` places them on the page and ``style`` adds CSS
    once per page.
    """

    order: ClassVar[int] = 2
    style: ClassVar[str] = ""
    title: str  #: the section's heading (subclasses set it)

    @abc.abstractmethod
    def render(self, media) -> str:
        """The section's HTML; its pictures written through ``media``."""

    @abc.abstractmethod
    def record(self, store) -> dict:
        """JSON-ready arguments of :meth:`restore` (results and arrays saved through ``store``)."""

    @classmethod
    @abc.abstractmethod
    def restore(cls, store, record: dict) -> "Section":
        """The section again, from what :meth:`record` gave."""

    def named_results(self) -> list:
        """``[(stem, Result), ...]`` the section shows as cards (the layer figure draws these)."""
        return []

    def _repr_html_(self) -> str:
        """A notebook's view of the section: pictures inline, clips playing, styles scoped."""
        return notebook_html([self])


class _Bars:
    """What a grid's activity bars read of an :class:`~stviz_adapters.activity.Activity`."""

    def __init__(self, per_class, classes):
        self.per_class, self.classes = per_class, list(classes)


@dataclass
class FigureGrid(Section):
    """The figure ``grid_<name>.png``: units (rows) x settings (columns, each a Result).

    ``units``, ``unit_labels``, ``activity`` (its per-class maxima are drawn as
    bars), ``channels`` and ``top_clips`` are passed on to
    :func:`stviz_adapters.media.figures.unit_grid`.
    """

    name: str
    columns: dict
    title: str
    units: Optional[list] = None
    unit_labels: Optional[list] = None
    activity: Any = None
    channels: Optional[list] = None
    top_clips: Optional[list] = None
    order: ClassVar[int] = 1

    @property
    def filename(self) -> str:
        return f"grid_{safe_name(self.name)}.png"

    def draw(self, path):
        from .figures import unit_grid

        return unit_grid(self.columns, path, units=self.units, unit_labels=self.unit_labels,
                         activity=self.activity, channels=self.channels, top_clips=self.top_clips,
                         title=self.title)

    def render(self, media) -> str:
        return figure_html(self.filename, media.figure(self.filename, self.draw))

    def record(self, store) -> dict:
        bars = tops = None
        if self.activity is not None:
            bars = store.put_arrays(f"{self.name}_bars", per_class=self.activity.per_class,
                                    classes=np.array(list(self.activity.classes)))
        if self.top_clips is not None:
            tops = store.put_arrays(f"{self.name}_top_clips", frames=np.stack(self.top_clips))
        ints = lambda xs: None if xs is None else [int(x) for x in xs]  # noqa: E731
        return {"name": self.name, "title": self.title, "units": ints(self.units),
                "unit_labels": None if self.unit_labels is None else [str(x) for x in self.unit_labels],
                "channels": ints(self.channels), "bars": bars, "top_clips": tops,
                "columns": [[label, store.put_result(r, f"{self.name}_{label}")]
                            for label, r in self.columns.items()]}

    @classmethod
    def restore(cls, store, record):
        bars = store.arrays(record["bars"]) if record.get("bars") else None
        tops = store.arrays(record["top_clips"])["frames"] if record.get("top_clips") else None
        return cls(record["name"], {label: store.result(ref) for label, ref in record["columns"]},
                   record["title"], units=record.get("units"), unit_labels=record.get("unit_labels"),
                   activity=None if bars is None else _Bars(bars["per_class"], bars["classes"].tolist()),
                   channels=record.get("channels"), top_clips=None if tops is None else list(tops))


@dataclass
class LayerFigure(Section):
    """The layer-by-layer figure ``layers.png`` (:func:`stviz_adapters.media.figures.layer_grid`).

    ``results`` maps a layer to a result of it, shallow to deep; :meth:`of`
    picks and orders them from a page's results.
    """

    results: dict
    most: int = 8
    title: str = "layers"
    order: ClassVar[int] = 1
    filename: ClassVar[str] = "layers.png"

    @classmethod
    def of(cls, named_results, most: int = 8) -> "LayerFigure":
        """The first result of each layer, shallow to deep: by the field as drawn, then by the
        cumulative stride (a layer that sees the whole input comes after the convolutions whose
        field reaches past it)."""
        from .figures import drawn_field

        first = {}
        for _, result in named_results:
            first.setdefault(result.config.get("layer") or "layer", result)
        if not first:
            raise ValueError("no results to draw layer by layer")
        return cls(dict(sorted(first.items(), key=lambda kv: (
            drawn_field(kv[1]), (kv[1].config.get("jitter") or {}).get("stride") or 0,
            kv[1].config.get("rho") or 0))), most)

    def draw(self, path):
        from .figures import layer_grid

        return layer_grid(self.results, path, most=self.most)

    def render(self, media) -> str:
        return figure_html(self.filename, media.figure(self.filename, self.draw))

    def record(self, store) -> dict:
        return {"most": self.most, "results": [[layer, store.put_result(r, f"layers_{layer}")]
                                               for layer, r in self.results.items()]}

    @classmethod
    def restore(cls, store, record):
        return cls({layer: store.result(ref) for layer, ref in record["results"]}, record["most"])


@dataclass
class ResultCards(Section):
    """Under the heading ``title``, a card per visualization of each ``(stem, Result)``: its
    inputs playing, its quality warnings and config; titled by ``unit_names``
    (``{(layer, objective description): name}``) where it has one, else by its objective."""

    title: str
    results: list
    unit_names: dict = field(default_factory=dict)

    def named_results(self) -> list:
        return list(self.results)

    def render(self, media) -> str:
        return cards_html(media, self.title, self.results, self.unit_names)

    def record(self, store) -> dict:
        return {"title": self.title,
                "results": [[stem, store.put_result(r, stem)] for stem, r in self.results],
                "unit_names": [[layer, objective, name]
                               for (layer, objective), name in self.unit_names.items()]}

    @classmethod
    def restore(cls, store, record):
        return cls(record["title"], [(stem, store.result(ref)) for stem, ref in record["results"]],
                   {(layer, objective): name for layer, objective, name in record["unit_names"]})


@dataclass
class ClipPairs(Section):
    """Real clips beside visualizations (:class:`~.manuscript.Pair`), grouped by their heading in
    order: an inversion's reconstructions, accentuated clips."""

    pairs: list
    order: ClassVar[int] = 0
    style: ClassVar[str] = PAIR_STYLE

    @property
    def title(self) -> str:
        return "; ".join(dict.fromkeys(p.heading for p in self.pairs))

    def render(self, media) -> str:
        return "\n".join(pair_rows(media, self.pairs))

    def record(self, store) -> dict:
        return {"pairs": [{"heading": p.heading, "item": int(p.item), "caption": p.caption,
                           "labels": list(p.labels), "clip": store.put_arrays("pair_clip", **p.clip),
                           "result": store.put_result(p.result, f"pair_{k}")}
                          for k, p in enumerate(self.pairs)]}

    @classmethod
    def restore(cls, store, record):
        return cls([Pair(p["heading"], store.arrays(p["clip"]), store.result(p["result"]), p["item"],
                         p["caption"], tuple(p["labels"])) for p in record["pairs"]])


def grids_by_layer(results) -> list:
    """One :class:`FigureGrid` per layer whose results hold the same number of units, a column per run.

    Columns are labelled by the run's temporal slowness gamma (``gamma = 5``) where it acts,
    else by its preset (``canvas``), else by the result's file stem; rows by class or layer
    and unit (:func:`unit_title`).
    """
    by_layer = {}
    for stem, result in results:
        by_layer.setdefault(result.config.get("layer") or "layer", []).append((stem, result))
    grids = []
    for layer, items in by_layer.items():
        if len({len(r) for _, r in items}) != 1:
            continue
        columns = {}
        for stem, r in sorted(items, key=setting_order):
            label = setting_label(r) or stem
            columns[label if label not in columns else f"{label} ({stem})"] = r
        objectives = items[0][1].config.get("objectives")
        grids.append(FigureGrid(layer, columns, layer, unit_labels=[unit_title(o, layer) for o in
                                                                    objectives] if objectives else None))
    return grids


#: a single unit's description, optionally scaled (``0.5 * channel(3, normalize=False)``)
_UNIT = re.compile(r"""^(?:[-+0-9.e]+ \* )?(?P<kind>class_logit|channel|neuron)\("""
                   r"""(?:(?P<q>['"])(?P<name>.+?)(?P=q)|(?P<index>\d+))"""
                   r"""(?:, location=(?P<at>\(.*?\)))?(?:, normalize=\w+)?\)$""")


def unit_title(objective, layer: Optional[str] = None) -> str:
    """A grid row's or card's title for an objective's description, as the demo titles them:
    a class by its name (``class_logit('playing cricket', location=())`` at ``Logits``:
    ``Logits: playing cricket``), a channel by layer and unit (``Mixed_5c unit 3``), a neuron
    with its place; anything else (sums, feature matching) as described."""
    found = _UNIT.match(str(objective))
    if found is None:
        return str(objective)
    kind, name, index, at = found.group("kind", "name", "index", "at")
    if kind == "class_logit":
        what = name if name is not None else f"class {index}"
        return f"{layer}: {what}" if layer else what
    place = f" at {at}" if kind == "neuron" and at else ""
    return f"{layer + ' ' if layer else ''}unit {index}{place}"


def cards_by_layer(results, unit_names=None, headings=None) -> list:
    """:class:`ResultCards` per layer of ``[(stem, Result), ...]``, runs by gamma then stem;
    the layers of ``headings`` (``{layer: heading}``) first, in its order, under its headings
    (:func:`~.manuscript.layer_groups`)."""
    names = dict(unit_names or {})
    for _, r in results:  # units are titled by class or layer and unit unless named
        layer = r.config.get("layer") or "layer"
        for o in r.config.get("objectives") or []:
            if unit_title(o, layer) != o:
                names.setdefault((layer, o), unit_title(o, layer))
    sections = []
    for heading, items in layer_groups(results, headings):
        layers = {r.config.get("layer") or "layer" for _, r in items}
        sections.append(ResultCards(heading, items, {k: v for k, v in names.items() if k[0] in layers}))
    return sections
