"""``stviz sweep``: a grid of units x settings, resumable, with a progress bar."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from stviz_core import presets
from stviz_core.backend import plugins

from .common import TRUST, hold
from .group import cli


@cli.command()
@click.argument("grid", required=False, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True,
              help="Output folder (new, empty, or an earlier sweep of the same model to resume).")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="Run batches here, or as Ray tasks (pip install 'stviz[ray]').")
@click.option("--address", default=None, help="Ray cluster address (default: a local Ray instance).")
@click.option("--workers", type=int, default=2, show_default=True,
              help="CPUs of the local Ray instance.")
@click.option("--cpus-per-task", type=int, default=1, show_default=True,
              help="CPUs (torch threads) per Ray task.")
@click.option("--model", default=None, help="Overrides the grid: 'module:function' or a model file.")
@click.option("--layers", default=None, help="Overrides the grid: comma-separated layer names.")
@click.option("--units", default=None, help="Overrides the grid: 'all', 'a:b' or 0,3,7.")
@click.option("--presets", default=None,
              help=f"Overrides the grid: comma-separated presets [grid's default: "
                   f"{presets.DEFAULT}; paper: the paper's method literally].")
@click.option("--kappa", default=None, help="Overrides the grid: comma-separated values.")
@click.option("--gamma", default=None, help="Overrides the grid: comma-separated values.")
@click.option("--steps", type=int, default=None, help="Overrides the grid.")
@click.option("--seeds", default=None, help="Overrides the grid: comma-separated seeds.")
@click.option("--backend", type=click.Choice(sorted(plugins())), default=None,
              help="Overrides the grid.")
@click.option("--dtype", type=click.Choice(["float32", "float64"]), default=None,
              help="Overrides the grid.")
@click.option("--device", default=None, help="Overrides the grid, e.g. cuda.")
@click.option("--batch", type=int, default=None, help="Overrides the grid: units per task.")
@click.option("--retries", type=int, default=None, help="Overrides the grid.")
@click.option("--no-report", is_flag=True, help="Skip the figure grids and index.html.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or messages.")
@TRUST
def sweep(grid, out, engine, address, workers, cpus_per_task, no_report, quiet, trust_pickle,
          **overrides):
    """Run a grid of units x regularization settings, resumably (GRID: a .toml or .yaml file).

    Every cell (layer, unit, preset, kappa, gamma, seed) is saved as it
    finishes; a rerun into the same folder skips complete cells and redoes
    partial ones. Options override the file's keys, or declare the grid alone.
    """
    from ..sweep.run import run_sweep
    from ..sweep.grid import load_grid

    try:
        spec = load_grid(grid, overrides, trust_pickle=trust_pickle)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    hold(out)  # one run per output folder (stviz_adapters.output_lock)
    bar = _SweepBar(quiet)
    log = (lambda *a: None) if quiet else bar.write
    try:
        summary = run_sweep(spec, out, engine=engine, address=address, workers=workers,
                            cpus_per_task=cpus_per_task, progress=bar, report=not no_report,
                            log=log)
    except KeyboardInterrupt:
        bar.close()
        done = len(list((Path(out) / "cells").glob("*.json")))
        click.echo(f"\ninterrupted: {done} complete cell(s) in {out / 'cells'}; rerun the same "
                   "command to finish the rest", err=True)
        sys.exit(130)
    except (ValueError, ImportError) as exc:
        bar.close()
        raise click.ClickException(str(exc)) from None
    bar.close()
    click.echo(f"stviz sweep: {summary}" + (f"; open {summary.report}" if summary.report else ""))
    if summary.failed:
        click.echo(f"{len(summary.failed)} cell(s) failed; see {Path(out) / 'failures.json'}",
                   err=True)
        sys.exit(1)


class _SweepBar:
    """A tqdm bar over a sweep's cells, with failures and the estimated time left."""

    def __init__(self, quiet):
        from tqdm import tqdm

        self.tqdm, self.bar = tqdm, None
        self.quiet = quiet or not sys.stderr.isatty()

    def __call__(self, p):
        if self.quiet:
            return
        if self.bar is None:
            self.bar = self.tqdm(total=p.total, initial=p.done, unit="cell", desc="sweep")
        self.bar.update(p.done - self.bar.n)
        self.bar.set_postfix(failed=p.failed, remaining=p.remaining, refresh=True)

    def write(self, message):
        (self.tqdm.write if self.bar is not None else click.echo)(message)

    def close(self):
        if self.bar is not None:
            self.bar.close()
            self.bar = None
