"""What the ``stviz`` commands share: output folders, number lists, progress bars, model loading."""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["Progress", "CREATED", "out_dir", "numbers", "TRUST", "load_model", "quality_warnings",
           "read_video", "folder_report", "interrupted"]


class Progress:
    """A tqdm bar over optimization steps; silent when not a terminal or with --quiet."""

    def __init__(self, quiet, desc):
        from tqdm import tqdm

        self.bar = None
        self.quiet = quiet or not sys.stderr.isatty()
        self.desc, self.tqdm = desc, tqdm

    def __call__(self, step, steps):
        if self.quiet:
            return
        if self.bar is None:
            self.bar = self.tqdm(total=steps, desc=self.desc, leave=False, unit="step")
        self.bar.update(1)
        if step == steps:
            self.bar.close()
            self.bar = None


#: folders a command created, removed again by :func:`main` when the command fails before writing
CREATED: list = []


def out_dir(out: Path, overwrite: bool) -> Path:
    if not out.exists():
        CREATED.extend(p for p in (out, *out.parents) if not p.exists())
    if out.exists() and not out.is_dir():
        raise click.UsageError(f"--out {out} is a file, not a folder")
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise click.UsageError(f"output folder {out} exists and is not empty; pass --overwrite "
                                   "to write into it")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".stviz-write-test"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise click.UsageError(f"cannot write into --out {out}: {exc.strerror or exc}") from None
    return out


def numbers(text, kind=float, what="values"):
    try:
        values = [kind(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        raise click.BadParameter(f"expected comma-separated {what}, got {text!r}")
    return values


TRUST = click.option("--trust-pickle", is_flag=True,
                      help="Let the model run code: unpickle a .pt model file (its code runs), or "
                           "call a function outside stviz named in a grid file.")


def load_model(spec: str, trust_pickle: bool = False):
    """A model from ``module:function`` or a saved model file (see :mod:`.model_loading`)."""
    from ..model_loading import load_model as load

    try:
        return load(spec, trust_pickle=trust_pickle)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def placed(net, device, backend=None):
    """``net`` on ``device`` (``--device``) through its backend plugin's ``prepare`` hook."""
    if device is None:
        return net
    from stviz_core.backend import plugin_hook, select_plugin

    try:
        return plugin_hook(select_plugin(net, backend=backend), "prepare")(net, device=device)
    except (RuntimeError, AssertionError, ValueError) as exc:
        raise click.BadParameter(f"device {device!r}: {str(exc).splitlines()[0]}",
                                 param_hint="--device") from None


def quality_warnings(result, run):
    """Print each visualization's quality warnings (stviz_core.quality) to stderr."""
    from stviz_core.quality import warnings

    quality = result.config.get("quality") or []
    objectives = result.config.get("objectives") or []
    for n, entry in enumerate(quality):
        unit = objectives[n] if n < len(objectives) else f"#{n}"
        for line in warnings(entry):
            click.echo(f"warning: {run}, {unit}: {line}", err=True)


def read_video(video, start, frames, size):
    """``frames`` frames of ``video`` from ``start``, resized with the aspect kept and centre-cropped
    to ``size`` x ``size`` (:mod:`.media.video_io`, the reader activity recording uses)."""
    from ..media.video_io import VideoError, fit_frames, read_video

    try:
        clip = read_video(video, start=start, frames=frames, max_side=size)
    except VideoError as exc:
        raise click.BadParameter(str(exc)) from None
    return fit_frames(clip.frames, (size, size))


def folder_report(folder, quiet, results=None, **options):
    """The page of ``folder``: of ``results`` (``[(stem, Result)]``, in memory) or of those saved there."""
    from ..media.manuscript import collect_results
    from ..media.report import grids_by_layer, write_report

    results = collect_results(folder) if results is None else results
    write_report(folder, grids_by_layer(results), results=results,
                 log=(lambda *a: None) if quiet else click.echo, **options)


def interrupted(out):
    saved = sorted(p.stem for p in Path(out).glob("*.npz"))
    click.echo(f"\ninterrupted: {len(saved)} complete result(s) in {out}: {', '.join(saved) or 'none'}",
               err=True)
    sys.exit(130)
