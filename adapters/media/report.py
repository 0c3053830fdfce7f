"""The one report writer: a page of sections, and the manifest that rebuilds it.

``stviz report``, ``stviz sweep``, ``stviz demo``, ``stviz invert`` and
``stviz accentuate`` all write their pages through :func:`write_report`, each
with its list of :mod:`.sections` (figure grids, the layer-by-layer figure,
result cards, clips beside visualizations). The writer draws the page from the
sections as given (results in memory) and saves a manifest,
``report/sections.json``: each section's class and record, with the results
and arrays it needs (a result already saved in the folder is named, not
copied; others go to ``report/``). :func:`rebuild_report` (``stviz report``)
reads it back and writes the same page; a folder without one gets the
generic page of its results.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Optional

import numpy as np

import stviz_core as sv
from stviz_core.atomic import TEMP_MARK, atomic_path, safe_name

from .manuscript import FolderMedia, Pair, collect_results, page_html, text
from .sections import (ClipPairs, FigureGrid, LayerFigure, Section, cards_by_layer,
                       grids_by_layer)

__all__ = ["Grid", "Pair", "Section", "Unreadable", "write_report", "rebuild_report", "scan_results",
           "grids_by_layer", "read_manifest", "MANIFEST", "DEFAULT_TITLE"]

#: the 0.1 name of :class:`~.sections.FigureGrid`
Grid = FigureGrid

#: where a page keeps what it was built from, relative to its folder
MANIFEST = "report/sections.json"
DEFAULT_TITLE = "stviz animated manuscript"
_FORMAT, _VERSION = "stviz-report", 1


def write_report(folder, sections, *, title=DEFAULT_TITLE, log=print, results=None, by_layer=False,
                 most=8, unit_names=None, headings=None, pairs=None) -> Optional[Path]:
    """Write the page of ``sections`` (``index.html``, its figures and media) and its manifest.

    Parameters
    ----------
    folder : path
    sections : list of Section
        Shown by their ``order`` (comparisons, figures, cards), as given within one.
    title : str
    log : callable
        Hears of every figure and of the page.
    results, by_layer, most, unit_names, headings, pairs
        The 0.1 keywords, each kept as the section it names: ``results`` (by
        default every result saved in ``folder``) as :func:`~.sections.cards_by_layer`
        with ``unit_names`` and ``headings``; ``by_layer`` as a
        :class:`~.sections.LayerFigure` of ``most`` units; ``pairs`` as
        :class:`~.sections.ClipPairs`. With any of them the page has its
        result cards, as it always had.

    Returns
    -------
    Path or None
        The page; ``None`` (with a message) when the ``media`` extra is missing.
    """
    try:
        import imageio  # noqa: F401
        import matplotlib  # noqa: F401
    except ImportError as exc:  # pragma: no cover - media extra missing
        log(f"no figures or HTML ({exc}); install stviz[media]")
        return None
    folder = Path(folder)
    sections = list(sections)
    if results is not None or by_layer or unit_names or headings or pairs:
        results = collect_results(folder) if results is None else list(results)
        sections = ([ClipPairs(pairs)] if pairs else []) + sections
        if by_layer:
            if not results:
                raise ValueError(f"no results in {folder}")
            sections.append(LayerFigure.of(results, most))
        sections += cards_by_layer(results, unit_names, headings)
    ordered = sorted(sections, key=lambda s: s.order)
    _remove_temporaries(folder)
    media = FolderMedia(folder, log)
    bodies = [section.render(media) for section in ordered]
    page = folder / "index.html"
    with atomic_path(page) as tmp:
        tmp.write_text(page_html(title, bodies, dict.fromkeys(type(s).style for s in ordered)))
    _Store(folder).save(title, ordered)
    log(f"animated manuscript {page}")
    return page


def rebuild_report(folder, *, by_layer=False, most=8, log=print, on_unreadable=None) -> Optional[Path]:
    """Write ``folder``'s page again: from its manifest, else the generic page of its results.

    Either page starts with the result files of ``folder`` that could not be
    read (:class:`Unreadable`, made again each time). The generic page: a
    figure grid and the cards per layer of every result saved in ``folder``.
    ``by_layer`` adds (or redraws with ``most``) the layer-by-layer figure of
    the page's results.

    Parameters
    ----------
    on_unreadable : callable, optional
        ``on_unreadable(file name, reason)`` for each result file that could not be read.

    Raises
    ------
    ValueError
        An unreadable manifest, a folder without readable results (the unreadable
        ones named), or ``by_layer`` without results.
    """
    folder = Path(folder)
    found = read_manifest(folder)
    results, unreadable = scan_results(folder)
    for name, reason in unreadable:
        (on_unreadable or (lambda *a: None))(name, reason)
    if found is not None:  # its note of unreadable files is made again, from what is there now
        title, sections = found[0], [s for s in found[1] if not isinstance(s, Unreadable)]
    else:
        if not results:
            said = "; ".join(f"{n}: {r}" for n, r in unreadable[:3]) + ("; ..." if len(unreadable) > 3 else "")
            raise ValueError(f"no results in {folder}" + (f": {len(unreadable)} file(s) could not be "
                                                          f"read ({said})" if unreadable else
                                                          " (no .npz + .json pairs of stviz results)"))
        title, sections = DEFAULT_TITLE, grids_by_layer(results) + cards_by_layer(results)
    sections = [Unreadable(unreadable)] * bool(unreadable) + sections
    if by_layer:
        named = [item for s in sections for item in s.named_results()]
        if not named:
            raise ValueError(f"no results in {folder}")
        sections = [s for s in sections if not isinstance(s, LayerFigure)] + [LayerFigure.of(named, most)]
    return write_report(folder, sections, title=title, log=log)


def scan_results(folder) -> tuple:
    """``([(stem, Result)], [(file name, reason)])``: the results saved in ``folder`` and the result
    files there that could not be read (a truncated ``.npz`` or ``.json``, a newer format, half a pair).

    A ``.json`` that is readable and says it is something else (``sweep.json``) is neither.
    """
    results, unreadable = [], []
    for json_path in sorted(Path(folder).glob("*.json")):
        npz_path = json_path.parent / f"{json_path.stem}.npz"
        try:
            sidecar = json.loads(json_path.read_bytes())
        except (ValueError, UnicodeDecodeError, OSError) as exc:
            if npz_path.exists():
                unreadable.append((json_path.name, f"not JSON ({exc})"))
            continue
        if not isinstance(sidecar, dict) or sidecar.get("format") != "stviz-result":
            continue  # another file (a sweep manifest, a summary)
        if not npz_path.exists():
            unreadable.append((json_path.name, f"its arrays ({npz_path.name}) are missing"))
            continue
        try:
            results.append((json_path.stem, sv.load(json_path.parent / json_path.stem)))
        except (ValueError, KeyError, TypeError, OSError) as exc:
            unreadable.append((npz_path.name, str(exc).strip().splitlines()[0] if str(exc).strip()
                               else type(exc).__name__))
    return results, unreadable


@dataclass
class Unreadable(Section):
    """A note listing the files of the folder that could not be read, each with the reason."""

    files: list  #: ``[(file name, reason)]``
    title: str = "Files that could not be read"
    order: ClassVar[int] = 0

    def render(self, media) -> str:
        items = "".join(f"<li><code>{text(name)}</code>: {text(reason)}</li>" for name, reason in self.files)
        return (f"<h2>{text(self.title)}</h2><p class='warn'>{len(self.files)} file(s) of this folder "
                f"are left out of the page:</p><ul class='unreadable'>{items}</ul>")

    def record(self, store) -> dict:
        return {"files": [list(f) for f in self.files]}

    @classmethod
    def restore(cls, store, record) -> "Unreadable":
        return cls([tuple(f) for f in record["files"]])


def _remove_temporaries(folder: Path) -> None:
    """Remove the hidden temporary files a killed page write left (``.NAME.<random>.tmp.SUFFIX``)."""
    for place in (folder, folder / "media", folder / "configs", folder / "report"):
        if place.is_dir():
            for stray in place.glob(f".*{TEMP_MARK}*"):
                if stray.is_file():
                    stray.unlink(missing_ok=True)


def read_manifest(folder) -> Optional[tuple]:
    """``(title, sections)`` of the page the manifest in ``folder`` records; ``None`` without one."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text())
        if manifest.get("format") != _FORMAT or manifest.get("version", 0) > _VERSION:
            raise ValueError(f"format {manifest.get('format')!r} version {manifest.get('version')!r}")
        store = _Store(folder)
        return manifest["title"], [_section_class(entry["section"]).restore(store, entry["record"])
                                   for entry in manifest["sections"]]
    except (ValueError, KeyError, TypeError, OSError) as exc:
        raise ValueError(f"{path} cannot be read as a stviz report manifest: {exc}") from None


def _section_class(name: str):
    """The section class a manifest names (``module:qualname``), from stviz_adapters only."""
    module, _, qualname = str(name).partition(":")
    if not module.startswith("stviz_adapters.") or not qualname:
        raise ValueError(f"section {name!r} is not a class of stviz_adapters")
    cls = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    if not (isinstance(cls, type) and issubclass(cls, Section)):
        raise ValueError(f"{name} is not a report section")
    return cls


class _Store:
    """What a page's sections need to be drawn again, kept in its folder (``report/``).

    A result already saved at the top of the folder (same config and inputs)
    is named by its stem; another is saved under ``report/``, once per page.
    Arrays go to ``report/<name>.npz``, once per content.
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self._refs, self._digests, self._names = {}, {}, set()
        self._loaded, self._index, self._kept, self._stems = {}, None, [], {}
        self.memo = {}  #: what sections restoring from this store may keep for each other

    def inside(self, ref: str) -> str:
        """``ref`` if it names a file inside the folder, else a ``ValueError``."""
        parts = Path(ref).parts
        if Path(ref).is_absolute() or ".." in parts or not parts:
            raise ValueError(f"the manifest names {ref!r}, outside the report's folder")
        return str(ref)

    def _name(self, hint: str) -> str:
        name, k = f"report/{safe_name(hint)}", 2
        while name in self._names:
            name, k = f"report/{safe_name(hint)}_{k}", k + 1
        self._names.add(name)
        return name

    def put_result(self, result, hint: str) -> str:
        if id(result) not in self._refs:
            self._kept.append(result)  # keeps the id valid while the page is saved
            ref = self._saved_stem(result)
            if ref is None:
                ref = self._name(self._stems.get(id(result), hint))
                result.save(self.folder / ref)
            self._refs[id(result)] = ref
        return self._refs[id(result)]

    def _saved_stem(self, result):
        if self._index is None:
            self._index = {}
            for path in sorted(self.folder.glob("*.json")):
                try:
                    sidecar = json.loads(path.read_text())
                    key = _config_key(sidecar["config"]) if sidecar.get("format") == "stviz-result" else None
                except (ValueError, KeyError, TypeError, AttributeError, OSError):
                    continue
                if key is not None and path.with_suffix(".npz").is_file():
                    self._index.setdefault(key, []).append(path.stem)
        for stem in self._index.get(_config_key(result.config), []):
            try:
                saved = sv.load(self.folder / stem)
            except (ValueError, OSError):
                continue
            if saved.inputs.keys() == result.inputs.keys() and all(
                    np.array_equal(saved.inputs[k], np.asarray(result.inputs[k])) for k in saved.inputs):
                return stem
        return None

    def put_arrays(self, hint: str, **arrays) -> str:
        digest = hashlib.sha256()
        for key in sorted(arrays):
            a = np.ascontiguousarray(arrays[key])
            digest.update(f"{key}{a.dtype.str}{a.shape}".encode() + a.tobytes())
        if digest.hexdigest() not in self._digests:
            ref = self._name(hint) + ".npz"
            with atomic_path(self.folder / ref) as tmp:
                with open(tmp, "wb") as f:
                    np.savez(f, **arrays)
            self._digests[digest.hexdigest()] = ref
        return self._digests[digest.hexdigest()]

    def result(self, ref: str):
        if ref not in self._loaded:
            self._loaded[ref] = sv.load(self.folder / self.inside(ref))
        return self._loaded[ref]

    def arrays(self, ref: str) -> dict:
        with np.load(self.folder / self.inside(ref), allow_pickle=False) as data:
            return {k: data[k] for k in data.files}

    def save(self, title, sections):
        """Write the manifest; files of ``report/`` that no section names any more are removed."""
        self._stems = {id(r): stem for s in sections for stem, r in s.named_results()}
        entries = [{"section": f"{type(s).__module__}:{type(s).__qualname__}", "record": s.record(self)}
                   for s in sections]
        path = self.folder / MANIFEST
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps({"format": _FORMAT, "version": _VERSION, "title": title,
                                       "sections": entries}, indent=1) + "\n")
        kept = {*self._digests.values(), *(f"{n}{s}" for n in self._names for s in (".npz", ".json"))}
        for stale in path.parent.iterdir():
            if stale.suffix in (".npz", ".json") and stale != path and f"report/{stale.name}" not in kept:
                stale.unlink()


def _config_key(config) -> str:
    """A config as its file holds it (JSON types, string keys), sorted: equal configs, equal keys."""
    plain = json.loads(json.dumps(config, default=lambda v: v.tolist() if hasattr(v, "tolist") else str(v)))
    return json.dumps(plain, sort_keys=True)
