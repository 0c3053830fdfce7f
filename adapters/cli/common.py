"""What the ``stviz`` commands share: output folders, number lists, progress bars, model loading."""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path

import click

from ..output_lock import LOCK_NAME, FolderLocked, lock_folder

__all__ = ["Progress", "CREATED", "WRITTEN", "HELD", "out_dir", "hold", "release_held",
           "undo_written", "numbers", "TRUST", "load_model", "quality_warnings", "read_video",
           "folder_report", "interrupted", "finite", "shown", "check_batch_memory",
           "check_model_batch"]


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

#: ``(folder, paths there before)`` of the output folders the running command writes; when the
#: command fails, :func:`undo_written` removes every file and folder it added (the group calls it)
WRITTEN: list = []

#: the output locks the running command holds (:func:`hold`), released when it ends
HELD: list = []


def hold(folder: Path, name: str = LOCK_NAME):
    """Lock ``folder`` (:mod:`stviz_adapters.output_lock`) until the running command ends.

    A second run on the folder is refused naming the holder; a lock left by a
    dead process is taken over with a ``warning:`` line.
    """
    folder = Path(folder)
    if not folder.exists():
        CREATED.extend(p for p in (folder, *folder.parents) if not p.exists() and p not in CREATED)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            lock = lock_folder(folder, name)
        except FolderLocked as exc:
            raise click.ClickException(str(exc)) from None
        except OSError as exc:
            raise click.UsageError(f"cannot write into {folder}: {exc.strerror or exc}") from None
    for w in caught:
        click.echo(f"warning: {w.message}", err=True)
    HELD.append(lock)
    return lock


def release_held() -> None:
    """Give back every lock the command took (the group calls it last, after any undoing)."""
    while HELD:
        HELD.pop().release()


def out_dir(out: Path, overwrite: bool) -> Path:
    """The output folder ``out``, created, writable, locked for this command, and empty unless
    ``overwrite``; what the command adds to it is removed again when the command fails."""
    if not out.exists():
        CREATED.extend(p for p in (out, *out.parents) if not p.exists())
    if out.exists() and not out.is_dir():
        raise click.UsageError(f"--out {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".stviz-write-test"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise click.UsageError(f"cannot write into --out {out}: {exc.strerror or exc}") from None
    hold(out)
    if not overwrite and any(p.name != LOCK_NAME for p in out.iterdir()):
        raise click.UsageError(f"output folder {out} exists and is not empty; pass --overwrite "
                               "to write into it")
    WRITTEN.append((out, _paths_under(out)))
    return out


def _paths_under(folder: Path) -> set:
    return {p for p in folder.rglob("*")}


def undo_written() -> None:
    """Remove what the failed command added to its output folders (files, then new folders)."""
    for folder, before in WRITTEN:
        if not folder.is_dir():
            continue
        added = sorted(_paths_under(folder) - before, key=lambda p: len(p.parts), reverse=True)
        for path in added:
            try:
                if path.is_dir() and not path.is_symlink():
                    path.rmdir()
                elif path.name != LOCK_NAME:
                    path.unlink()
            except OSError:
                pass  # not empty (a file that was there before), or gone
    WRITTEN.clear()


def finite(name):
    """A click callback refusing NaN and infinities of a float option (click's ranges pass them)."""
    def check(ctx, param, value):
        if value is not None and not math.isfinite(value):
            raise click.BadParameter(f"{name} must be a finite number, got {value}")
        return value
    return check


#: arrays of one input's size an ascent keeps per visualization (input, parameters, Adam's two
#: moments, gradient, the step's canvas and crop; the framework's activations come on top)
ARRAYS_PER_INPUT = 8


def check_batch_memory(count: int, specs, what: str) -> None:
    """Refuse ``count`` visualizations of inputs ``specs`` (``{name: InputSpec}``) whose arrays
    alone would take over half this machine's memory (the limit is in the message)."""
    import os

    per = sum(math.prod(spec.shape) for spec in specs.values()) * 8 * ARRAYS_PER_INPUT
    try:
        limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):  # pragma: no cover - no sysconf: no check
        return
    if count * per > limit:
        raise click.BadParameter(f"{what} gives {count} visualizations; their arrays alone take about "
                                 f"{count * per / 2**30:.1f} GiB, over the limit of {limit / 2**30:.1f} "
                                 f"GiB (half this machine's memory): at most {max(1, limit // per)} "
                                 "at once")


def check_model_batch(net, count: int, what: str) -> None:
    """:func:`check_batch_memory` on the inputs ``net`` declares (nothing when it declares none)."""
    from stviz_core.backend import input_specs
    from stviz_core.model_contract import contract_of

    if contract_of(net).inputs:
        check_batch_memory(count, input_specs(contract_of(net).inputs), what)


def shown(text, limit: int = 60) -> str:
    """``text`` quoted for a message, cut to ``limit`` characters (its length said) when longer."""
    text = str(text)
    return repr(text) if len(text) <= limit else f"{text[:limit]!r}... ({len(text)} characters)"


def numbers(text, kind=float, what="values", distinct=False):
    """The comma-separated numbers of ``text``; ``distinct``: a value given twice (``1,1.0``) refused."""
    try:
        values = [kind(v) for v in str(text).split(",") if v.strip()]
    except ValueError:
        values = []
    if not values:
        raise click.BadParameter(f"expected comma-separated {what}, got {shown(text)}")
    seen = set()
    for v in values if distinct else ():
        if v in seen:
            raise click.BadParameter(f"{what} must differ: {v:g} is given twice in "
                                     f"{shown(text)} (one result per value); give each value once")
        seen.add(v)
    return values


TRUST = click.option("--trust-pickle", is_flag=True,
                      help="Let the model run code: unpickle a .pt model file (its code runs), or "
                           "call a function outside stviz named in a grid file.")


def load_model(spec: str, trust_pickle: bool = False, weights=None):
    """A model from ``module:function`` or a saved model file (see :mod:`.model_loading`);
    ``weights`` (``--weights``) is passed to the spec's function."""
    from ..model_loading import load_model as load

    try:
        return load(spec, trust_pickle=trust_pickle, weights=weights)
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
