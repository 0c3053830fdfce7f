"""``stviz record``: a layer's activity on a folder of videos."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from .common import TRUST, hold, load_model, shown
from .group import cli

#: the most windows per video ``--windows N`` takes (``all`` takes every window back to back)
MAX_WINDOWS = 10_000


@cli.command()
@click.argument("model")
@click.argument("folder", type=click.Path(path_type=Path))
@click.option("--layer", required=True, help="Layer to record.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("activity.npz"),
              show_default=True, help="The .npz file to write (Activity.load reads it).")
@click.option("--windows", default="1", show_default=True,
              help="Windows of the model's T frames per video: a number (1: the central one) or "
                   "'all' (back to back).")
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True,
              help="Top clips kept per channel.")
@click.option("--batch", type=click.IntRange(min=1), default=4, show_default=True,
              help="Windows per forward pass.")
@click.option("--skip-bad", is_flag=True, help="Leave out unreadable or too small videos (listed) "
                                               "instead of stopping at the first.")
@click.option("--overwrite", is_flag=True, help="Replace an existing --out file.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar or messages.")
@TRUST
def record(model, folder, layer, out, windows, top, batch, skip_bad, overwrite, quiet, trust_pickle):
    """Record LAYER of MODEL on the videos in FOLDER: a_hat, per-class maxima, top clips.

    FOLDER holds class folders (FOLDER/<class>/<clip>.mp4; mp4, avi, gif, ...)
    or videos (one class). Each video is fitted to the model's input with its
    aspect ratio kept (centre crop) and preprocessed as the model says
    (model.stviz_preprocess).
    """
    import numpy as np

    from ..activity import record_videos

    count = _windows(windows)
    if out.exists() and (out.is_dir() or not overwrite):
        raise click.UsageError(f"--out {out} exists" + ("" if out.is_dir() else "; pass --overwrite"))
    if not folder.is_dir():
        raise click.BadParameter(f"no folder {folder}", param_hint="FOLDER")
    hold(out.parent, f".{out.name}.stviz-lock")  # one run per output file
    net = load_model(model, trust_pickle)
    try:
        activity = record_videos(net, layer, folder, windows=count,
                                 top_k=top, batch=batch, skip_bad=skip_bad,
                                 progress=not quiet and sys.stderr.isatty())
    except KeyboardInterrupt:
        click.echo("\ninterrupted: nothing written", err=True)
        sys.exit(130)
    out.parent.mkdir(parents=True, exist_ok=True)
    activity.save(out)
    if not quiet:
        for line in activity.skipped:
            click.echo(f"skipped {line}", err=True)
        best = np.argsort(-activity.a_hat)[:3]
        for c in best:
            click.echo(f"channel {c}: a_hat {activity.a_hat[c]:.3g}, strongest class "
                       f"{activity.strongest_class(c)}, top clip {activity.top_clip_names(c)[0]}")
    click.echo(f"stviz record: {len(activity.clips)} videos, {len(activity.classes)} class(es), "
               f"{len(activity.a_hat)} channels of {layer} -> {out}")


def _windows(text):
    """``--windows``: ``"all"`` or a count from 1 to :data:`MAX_WINDOWS` (checked before any work)."""
    if text == "all":
        return text
    if not text.isdigit():
        raise click.BadParameter(f"expected a number or 'all', got {shown(text)}", param_hint="--windows")
    count = int(text)
    if not 1 <= count <= MAX_WINDOWS:
        raise click.BadParameter(f"{count} windows per video is out of range: give 1 to {MAX_WINDOWS} "
                                 "(or 'all': every window back to back)", param_hint="--windows")
    return count
