"""The Ray engine of :func:`stviz_adapters.sweep.run.run_sweep`: one Ray task per batch of units.

Each worker process opens the grid's model once (a per-process cache keyed by
the grid's model, dtype and device) and keeps it for every later task; tasks
carry only the cells. Tasks ask for ``cpus_per_task`` CPUs and, when the grid's
device is CUDA, one GPU. Ray's own task retries are off: the driver retries
failed cells itself (bounded, cell by cell) so that a crash is counted and
reported the same way on every engine.
"""

from __future__ import annotations

import os

from stviz_core import threads as threads_policy

__all__ = ["RayEngine", "task_options"]

_MODELS = {}  # per worker process: (model, dtype, device, backend) -> opened model


def _run_task(grid, cells, fail_attempt, threads):
    """Body of one Ray task (runs in a worker process)."""
    from .worker import open_model, run_cells

    if fail_attempt:  # test hook: the worker dies as a killed or crashed one would
        os._exit(1)
    key = (grid.model, grid.dtype, grid.device, grid.backend)
    if key not in _MODELS:
        _MODELS[key] = open_model(grid)
    model, _ = _MODELS[key]
    threads_policy.request(threads, source="sweep worker")  # the backend applies it per run
    return run_cells(model, cells)


def task_options(grid, cpus_per_task=1) -> dict:
    """Ray resources of one task: CPUs, one GPU when the grid's device is CUDA, no Ray retries."""
    gpus = 1 if str(grid.device).startswith("cuda") else 0
    return {"num_cpus": cpus_per_task, "num_gpus": gpus, "max_retries": 0}


class RayEngine:
    """Submits batches as Ray tasks and hands back whichever finishes first."""

    name = "ray"

    def __init__(self, grid, *, address=None, workers=2, cpus_per_task=1):
        try:
            import ray
        except ImportError:
            raise ImportError("the Ray engine needs Ray: pip install 'stviz[ray]'") from None
        self.ray, self.grid, self.started = ray, grid, False
        if not ray.is_initialized():
            if address is not None:
                ray.init(address=address, log_to_driver=False)
            else:
                ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
            self.started = True
        self.task = ray.remote(**task_options(grid, cpus_per_task))(_run_task)
        self.threads = cpus_per_task
        self.grid_ref = ray.put(grid)
        self.refs = {}

    def submit(self, cells, attempt, fail):
        ref = self.task.remote(self.grid_ref, cells, fail, self.threads)
        self.refs[ref] = (cells, attempt)

    def pending(self):
        return len(self.refs)

    def next_finished(self):
        """``(cells, attempt, results or exception)`` of the first batch to finish."""
        (ref,), _ = self.ray.wait(list(self.refs), num_returns=1)
        cells, attempt = self.refs.pop(ref)
        try:
            return cells, attempt, self.ray.get(ref)
        except Exception as exc:  # RayTaskError, WorkerCrashedError, ...: retried by the driver
            return cells, attempt, exc

    def close(self):
        for ref in self.refs:
            self.ray.cancel(ref, force=True)
        self.refs.clear()
        if self.started:
            self.ray.shutdown()
