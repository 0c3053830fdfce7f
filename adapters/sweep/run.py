"""Whole-layer sweeps: every cell of a grid (:mod:`.grid`), resumable, locally or on Ray.

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

The output folder (:mod:`.folder`)::

    sweep.json            the grid, the model's identity and every cell id
    cells/<id>.npz/.json  one result per cell (config["sweep"] names the cell)
    log.jsonl             one line per finished, retried or failed cell
    failures.json         cells that failed every attempt (absent when none)
    grid_*.png, index.html  the report over all complete cells
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import stviz_core as sv
from stviz_core.backend import backend_member

from .folder import SweepFolder
from .grid import Grid, batches, make_cells
from .worker import open_model, run_cells

__all__ = ["run_sweep", "SweepProgress", "SweepSummary", "SweepFolder", "run_cells", "open_model"]

ENGINES = ("local", "ray")


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


def channel_counts(model, backend, layers) -> dict:
    """Channels of each layer, from the backend's activation shape (errors name unknown layers)."""
    plugin = sv.select_plugin(model, backend=backend)
    counts = {}
    for layer in layers:
        be = plugin.create(model, layer=layer)
        try:
            counts[layer] = int(be.activation_shape[-1])
        finally:
            backend_member(be, "close")()
    return counts


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
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; valid choices: {', '.join(ENGINES)}")
    log = log or (lambda *a: None)
    t0 = time.perf_counter()
    model, backend, model_id = open_model(grid, identify=True)
    cells = make_cells(grid, channel_counts(model, backend, grid.layers), model_id, backend)
    folder = SweepFolder(out)
    folder.claim(grid, model_id, cells)
    todo, skipped = _sort_out(folder, cells)
    log(f"sweep of {len(cells)} cells: {len(skipped)} complete from before, {len(todo)} to run "
        f"on the {engine} engine")
    runner = _engine(engine, grid, model, address=address, workers=workers,
                     cpus_per_task=cpus_per_task)
    driver = _Driver(grid, cells, todo, skipped, folder, runner, progress=progress, log=log, t0=t0)
    try:
        driver.run(fail=set(_fail_first_attempt))
    finally:
        runner.close()
    folder.write_failures(driver.failed)
    summary = SweepSummary(folder.path, len(cells), [c.id for c in driver.ran],
                           [c.id for c in skipped], driver.failed, time.perf_counter() - t0)
    if report:
        from .report import write_sweep_report

        summary.report = write_sweep_report(folder, cells, title=grid.title, log=log)
    return summary


def _sort_out(folder, cells):
    """``(todo, skipped)``: the cells to run (their partial results discarded) and the complete ones."""
    todo, skipped = [], []
    for cell in cells:
        if folder.is_complete(cell):
            skipped.append(cell)
        else:
            folder.discard(cell)
            todo.append(cell)
    return todo, skipped


def _engine(name, grid, model, *, address, workers, cpus_per_task):
    if name == "ray":
        from .ray_engine import RayEngine

        return RayEngine(grid, address=address, workers=workers, cpus_per_task=cpus_per_task)
    return LocalEngine(model)


class _Driver:
    """Submits the batches, saves what finishes, retries what fails, tells the progress."""

    def __init__(self, grid, cells, todo, skipped, folder, runner, *, progress, log, t0):
        self.grid, self.cells, self.folder, self.runner = grid, cells, folder, runner
        self.progress, self.log, self.t0 = progress, log, t0
        self.skipped = skipped
        self.missing = {c.id for c in todo}
        self.runs = dict.fromkeys(self.missing, 0)  # how many runs that included each cell have failed
        self.ran, self.failed = [], {}
        self.done = len(skipped)

    def run(self, fail):
        """Run every batch that holds a missing cell; ``fail``: cell ids whose first attempt fails."""
        # batches are cut from the whole grid, so that a cell runs beside the same partners
        # (and gives the same bytes) however often the sweep was interrupted
        for batch in batches(self.cells, self.grid.batch):
            if any(c.id in self.missing for c in batch):
                self.runner.submit(batch, 0, any(c.id in fail for c in batch))
        self.tell()
        while self.runner.pending():
            batch, attempt, outcome = self.runner.next_finished()
            wanted = [c for c in batch if c.id in self.missing]
            if isinstance(outcome, BaseException):
                self.retry_or_fail(batch, wanted, attempt, outcome)
            else:
                self.save(batch, wanted, attempt, outcome)
            self.tell()

    def save(self, batch, wanted, attempt, results):
        """Save the results of the batch's missing cells."""
        for cell, result in zip(batch, results, strict=True):
            if cell.id in self.missing:
                self.folder.save(cell, result)
        self.folder.log("done", wanted, attempt=attempt)
        self.missing.difference_update(c.id for c in wanted)
        self.ran.extend(wanted)
        self.done += len(wanted)

    def retry_or_fail(self, batch, wanted, attempt, exc):
        """Retry a failed batch whole, then each missing cell alone; past that, report the cell failed."""
        text = str(exc).strip()
        error = f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"
        for cell in wanted:
            self.runs[cell.id] += 1
        if attempt < self.grid.retries:
            self.folder.log("retry", wanted, attempt=attempt, error=error)
            self.runner.submit(batch, attempt + 1, False)
        elif len(wanted) > 1:  # alone, so that one bad cell cannot sink the others
            self.folder.log("retry", wanted, attempt=attempt, error=error, alone=True)
            for cell in wanted:
                self.runner.submit([cell], 0, False)
        else:
            self.folder.log("failed", wanted, attempt=attempt, error=error)
            for cell in wanted:
                self.failed[cell.id] = {**cell.config(), "attempts": self.runs[cell.id],
                                        "error": error}
            self.folder.write_failures(self.failed)
            self.log(f"failed after {self.runs[wanted[0].id]} attempts: {wanted[0].label()} "
                     f"({error})")

    def tell(self):
        if self.progress is not None:
            total, failed = len(self.cells), len(self.failed)
            self.progress(SweepProgress(total, self.done, failed, total - self.done - failed,
                                        len(self.skipped), time.perf_counter() - self.t0))
