"""Whole-layer sweeps: every cell of a grid (:mod:`.sweep_grid`), resumable, locally or on Ray.

    from stviz_adapters.sweep.run import run_sweep
    from stviz_adapters.sweep.grid import load_grid
    summary = run_sweep(load_grid("grid.toml"), "out/sweep")              # this machine
    summary = run_sweep(load_grid("grid.toml"), "out/sweep", engine="ray")  # ray.init() or --address

The driver plans the cells, skips those whose results are already complete in
the output folder, and hands the rest to an engine in batches of units (one
optimization per batch: the backend's batched path). The local engine runs
them one after the other in this process; the Ray engine (:mod:`.sweep_ray`)
runs one task per batch, each worker loading the model once. Workers return
results and the driver writes them, one ``.npz`` + ``.json`` pair per cell
(atomic, checksummed), so a killed sweep leaves only complete cells behind.
Batches are cut from the whole grid: a cell always runs beside the same
partners, so an interrupted and resumed sweep gives the same bytes as an
uninterrupted one (a batch with some complete cells reruns whole and saves
only the missing ones). A batch that fails (NaN, a crashed worker) is retried
up to ``grid.retries`` times, then each of its cells alone as often; cells
that still fail are reported in ``failures.json`` and the sweep goes on.

The output folder::

    sweep.json            the grid, the model's identity and every cell id
    cells/<id>.npz/.json  one result per cell (config["sweep"] names the cell)
    log.jsonl             one line per finished, retried or failed cell
    failures.json         cells that failed every attempt (absent when none)
    grid_*.png, index.html  the report over all complete cells
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import stviz_core as sv
from stviz_core.backend import select_plugin

from stviz_core.atomic import atomic_path
from ..model_loading import fingerprint, load_model
from .grid import Grid, batches, make_cells

__all__ = ["run_sweep", "SweepProgress", "SweepSummary", "SweepFolder", "run_cells", "open_model"]

FORMAT = "stviz-sweep"
VERSION = 1


@dataclass(frozen=True)
class SweepProgress:
    """Where a sweep stands; passed to ``progress`` after every finished batch."""

    total: int
    done: int
    failed: int
    remaining: int
    skipped: int
    elapsed: float

    @property
    def eta(self):
        """Seconds left at this run's rate so far (``None`` before the first cell)."""
        ran = self.done - self.skipped
        return None if ran <= 0 else self.elapsed / ran * self.remaining

    def __str__(self):
        eta = "?" if self.eta is None else f"{self.eta:.0f} s"
        return (f"{self.done}/{self.total} cells done ({self.skipped} from before), "
                f"{self.failed} failed, {self.remaining} remaining, eta {eta}")


@dataclass
class SweepSummary:
    """What :func:`run_sweep` did."""

    folder: Path
    total: int
    ran: list
    skipped: list
    failed: dict
    seconds: float
    report: object = None

    @property
    def complete(self) -> bool:
        return not self.failed

    def __str__(self):
        return (f"{self.total} cells: {len(self.ran)} ran, {len(self.skipped)} already complete, "
                f"{len(self.failed)} failed, in {self.seconds:.1f} s")


# -- the model, as driver and workers open it ---------------------------------------


def open_model(grid: Grid, *, identify=False):
    """Load the grid's model in the grid's dtype and device; returns ``(model, backend name)``.

    With ``identify``, also the model's identity ``{"spec", "fingerprint"}``, the
    fingerprint taken from the weights as loaded (before the dtype change, so a
    float32 and a float64 sweep of one model share a folder).
    """
    model = load_model(grid.model)
    identity = {"spec": grid.model, "fingerprint": fingerprint(model)} if identify else None
    plugin = select_plugin(model)
    backend = grid.backend or plugin.name
    if backend != plugin.name:
        raise ValueError(f"the grid asks for backend {backend!r} but {grid.model} is a "
                         f"{plugin.name} model")
    model = plugin.prepare(model, dtype=grid.dtype, device=grid.device)
    return (model, backend, identity) if identify else (model, backend)


def run_cells(model, cells, *, fail_attempt=False):
    """Optimize ``cells`` (one batch: same group, different units) together; one Result per cell.

    ``fail_attempt`` is a test hook: raise before any work, as a crashed cell would.
    """
    if fail_attempt:
        raise RuntimeError(f"test hook: {cells[0].label()} fails on its first attempt")
    first = cells[0]
    objectives = [sv.channel(c.unit, normalize=first.normalize) for c in cells]
    result = sv.visualize(model, first.layer, objective=objectives, backend=first.backend,
                          preset=sv.presets.get(first.preset, kappa=first.kappa, gamma=first.gamma),
                          steps=first.steps, seed=[first.seed] * len(cells), jitter=first.jitter)
    return [result.select([i]) for i in range(len(cells))]


def channel_counts(model, backend, layers) -> dict:
    """Channels of each layer, from the backend's activation shape (errors name unknown layers)."""
    plugin = sv.select_plugin(model, backend=backend)
    counts = {}
    for layer in layers:
        be = plugin.create(model, layer=layer)
        try:
            counts[layer] = int(be.activation_shape[-1])
        finally:
            if hasattr(be, "close"):
                be.close()
    return counts


# -- the output folder ----------------------------------------------------------------


class SweepFolder:
    """The output folder of one model's sweeps: manifest, cell results, log, failures."""

    def __init__(self, path):
        self.path = Path(path)
        self.cells_dir = self.path / "cells"

    @property
    def manifest_path(self):
        return self.path / "sweep.json"

    def claim(self, grid: Grid, model_id: dict, cells) -> None:
        """Check the folder may hold this sweep (empty, or a sweep of the same model); write the manifest."""
        if self.manifest_path.exists():
            try:
                old = json.loads(self.manifest_path.read_text())
            except ValueError:
                raise ValueError(f"{self.manifest_path} is not readable JSON; move it away or use "
                                 "another folder") from None
            if old.get("format") != FORMAT:
                raise ValueError(f"{self.manifest_path} is not a stviz sweep manifest")
            theirs = old.get("model", {})
            if theirs.get("fingerprint") != model_id["fingerprint"]:
                raise ValueError(
                    f"{self.path} holds a sweep of another model ({theirs.get('spec')}, weights "
                    f"{str(theirs.get('fingerprint'))[:12]}); this grid's model is "
                    f"{model_id['spec']} (weights {model_id['fingerprint'][:12]}). Use another "
                    "output folder")
        elif self.path.exists() and any(self.path.iterdir()):
            raise ValueError(f"{self.path} is not empty and holds no sweep (no sweep.json); use an "
                             "empty or new folder")
        self.path.mkdir(parents=True, exist_ok=True)
        self.cells_dir.mkdir(exist_ok=True)
        for stray in self.cells_dir.glob(".*.tmp"):  # a write cut short by a killed driver
            stray.unlink()
        manifest = {"format": FORMAT, "version": VERSION, "model": model_id,
                    "grid": grid.to_dict(), "cells": [c.id for c in cells]}
        self._write_json(self.manifest_path, manifest)

    def stem(self, cell):
        return self.cells_dir / cell.id

    def load_complete(self, cell):
        """The cell's result if its pair exists, matches its checksum and names this cell; else ``None``."""
        try:
            result = sv.load(self.stem(cell))
        except (FileNotFoundError, ValueError, KeyError, OSError):
            return None
        return result if result.config.get("sweep", {}).get("cell") == cell.id else None

    def is_complete(self, cell) -> bool:
        return self.load_complete(cell) is not None

    def discard(self, cell) -> None:
        """Remove a partial result so the cell is redone."""
        for suffix in (".json", ".npz"):
            self.cells_dir.joinpath(cell.id + suffix).unlink(missing_ok=True)

    def save(self, cell, result) -> Path:
        result.config["sweep"] = {"cell": cell.id, **cell.config()}
        return result.save(self.stem(cell))

    def log(self, event: str, cells, **extra) -> None:
        with open(self.path / "log.jsonl", "a") as fh:
            for cell in cells:
                fh.write(json.dumps({"event": event, "cell": cell.id, "label": cell.label(),
                                     "time": round(time.time(), 3), **extra}) + "\n")
            fh.flush()

    def write_failures(self, failed: dict) -> None:
        path = self.path / "failures.json"
        if failed:
            self._write_json(path, failed)
        else:
            path.unlink(missing_ok=True)

    @staticmethod
    def _write_json(path, data):
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")


# -- the driver ---------------------------------------------------------------------


class LocalEngine:
    """Runs batches one after the other in this process, on the driver's model."""

    name = "local"

    def __init__(self, model):
        self.model, self.queue = model, []

    def submit(self, cells, attempt, fail):
        self.queue.append((cells, attempt, fail))

    def next_finished(self):
        """``(cells, attempt, results or exception)`` of the next batch."""
        cells, attempt, fail = self.queue.pop(0)
        try:
            return cells, attempt, run_cells(self.model, cells, fail_attempt=fail)
        except Exception as exc:  # a failed cell is reported, not fatal to the sweep
            return cells, attempt, exc

    def pending(self):
        return len(self.queue)

    def close(self):
        self.queue.clear()


def run_sweep(grid: Grid, out, *, engine="local", address=None, workers=2, cpus_per_task=1,
              progress=None, report=True, log=None, _fail_first_attempt=()) -> SweepSummary:
    """Run every cell of ``grid`` that ``out`` does not already hold complete.

    Parameters
    ----------
    grid : Grid
        See :mod:`stviz_adapters.sweep.grid`.
    out : path
        Output folder: new, empty, or holding earlier sweeps of the same model
        (their complete cells are skipped, partial ones redone).
    engine : {"local", "ray"}
        Where batches run. ``"ray"`` needs ``pip install stviz[ray]``.
    address : str, optional
        Ray cluster address (``ray.init(address=...)``); a local Ray instance
        with ``workers`` CPUs when omitted.
    workers, cpus_per_task : int
        Local Ray instance size and CPUs per task (torch threads per worker).
        Tasks ask for one GPU when ``grid.device`` is CUDA.
    progress : callable, optional
        Called with a :class:`SweepProgress` after every finished batch.
    report : bool
        Write figure grids and ``index.html`` over all complete cells at the end.
    log : callable, optional
        Messages (``print``-like).
    _fail_first_attempt : collection of str
        Test hook: cell ids whose first attempt fails (on Ray, by killing the
        worker process).

    Returns
    -------
    SweepSummary
    """
    if engine not in ("local", "ray"):
        raise ValueError(f"unknown engine {engine!r}; valid choices: local, ray")
    log = log or (lambda *a: None)
    t0 = time.perf_counter()
    model, backend, model_id = open_model(grid, identify=True)
    cells = make_cells(grid, channel_counts(model, backend, grid.layers), model_id, backend)
    folder = SweepFolder(out)
    folder.claim(grid, model_id, cells)
    todo, skipped = [], []
    for cell in cells:
        if folder.is_complete(cell):
            skipped.append(cell)
        else:
            folder.discard(cell)
            todo.append(cell)
    log(f"sweep of {len(cells)} cells: {len(skipped)} complete from before, {len(todo)} to run "
        f"on the {engine} engine")
    if engine == "ray":
        from .ray_engine import RayEngine

        runner = RayEngine(grid, address=address, workers=workers, cpus_per_task=cpus_per_task)
    else:
        runner = LocalEngine(model)
    fail = set(_fail_first_attempt)
    missing = {c.id for c in todo}
    runs = dict.fromkeys(missing, 0)  # how many runs that included each cell have failed
    ran, failed = [], {}
    state = {"done": len(skipped)}

    def tell():
        if progress is not None:
            progress(SweepProgress(len(cells), state["done"], len(failed),
                                   len(cells) - state["done"] - len(failed), len(skipped),
                                   time.perf_counter() - t0))

    try:
        # batches are cut from the whole grid, so that a cell runs beside the same partners
        # (and gives the same bytes) however often the sweep was interrupted
        for batch in batches(cells, grid.batch):
            if any(c.id in missing for c in batch):
                runner.submit(batch, 0, any(c.id in fail for c in batch))
        tell()
        while runner.pending():
            batch, attempt, outcome = runner.next_finished()
            wanted = [c for c in batch if c.id in missing]
            if isinstance(outcome, BaseException):
                text = str(outcome).strip()
                error = f"{type(outcome).__name__}: {text.splitlines()[0] if text else ''}"
                for cell in wanted:
                    runs[cell.id] += 1
                if attempt < grid.retries:
                    folder.log("retry", wanted, attempt=attempt, error=error)
                    runner.submit(batch, attempt + 1, False)
                elif len(wanted) > 1:  # alone, so that one bad cell cannot sink the others
                    folder.log("retry", wanted, attempt=attempt, error=error, alone=True)
                    for cell in wanted:
                        runner.submit([cell], 0, False)
                else:
                    folder.log("failed", wanted, attempt=attempt, error=error)
                    for cell in wanted:
                        failed[cell.id] = {**cell.config(), "attempts": runs[cell.id],
                                           "error": error}
                    folder.write_failures(failed)
                    log(f"failed after {runs[wanted[0].id]} attempts: {wanted[0].label()} "
                        f"({error})")
            else:
                for cell, result in zip(batch, outcome, strict=True):
                    if cell.id in missing:
                        folder.save(cell, result)
                folder.log("done", wanted, attempt=attempt)
                missing.difference_update(c.id for c in wanted)
                ran.extend(wanted)
                state["done"] += len(wanted)
            tell()
    finally:
        runner.close()
    folder.write_failures(failed)
    summary = SweepSummary(folder.path, len(cells), [c.id for c in ran], [c.id for c in skipped],
                           failed, time.perf_counter() - t0)
    if report:
        from .report import write_sweep_report

        summary.report = write_sweep_report(folder, cells, title=grid.title, log=log)
    return summary
