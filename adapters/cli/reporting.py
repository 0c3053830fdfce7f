"""``stviz report`` and ``stviz flow``: pages from saved results, flow from a video."""

from __future__ import annotations

from pathlib import Path

import click

from .common import WRITTEN, hold, out_dir, read_video
from .group import cli


@cli.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--by-layer", is_flag=True,
              help="Also draw layers.png: one band per layer, units sized by receptive field.")
@click.option("--most", type=int, default=8, show_default=True,
              help="With --by-layer: units shown for the layer with the smallest field.")
@click.option("--strict", is_flag=True,
              help="Exit with status 1 when a file could not be read (the page is written still).")
@click.option("--quiet", "-q", is_flag=True)
def report(folder, by_layer, most, strict, quiet):
    """Rebuild figure grids and the animated manuscript (index.html) from saved results in FOLDER.

    A folder whose page stviz wrote (stviz demo, sweep, invert, accentuate,
    report) gets the same page again, from the sections its manifest
    (report/sections.json) records; another folder gets a figure grid and the
    cards of every result in it, per layer, and a list of the result files
    that could not be read, with the reason (also printed; --strict makes them
    an error). A folder without results is an error.
    """
    from ..media.report import rebuild_report

    hold(folder)
    WRITTEN.append((folder, set(folder.rglob("*"))))
    unreadable = []

    def said(name, reason):
        unreadable.append(name)
        click.echo(f"unreadable: {folder / name}: {reason}", err=True)

    try:
        rebuild_report(folder, by_layer=by_layer, most=most, on_unreadable=said,
                       log=(lambda *a: None) if quiet else click.echo)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"stviz report: {folder / 'index.html'}"
               + (f"; {len(unreadable)} file(s) could not be read and are listed on the page"
                  if unreadable else ""))
    if strict and unreadable:
        WRITTEN.clear()  # the page stays: it lists them
        raise click.ClickException(f"{len(unreadable)} file(s) in {folder} could not be read "
                                   f"({', '.join(unreadable[:5])}{', ...' if len(unreadable) > 5 else ''}); "
                                   "--strict makes that an error")


@cli.command()
@click.argument("video", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--frames", type=click.IntRange(min=2, max=1000), default=11, show_default=True,
              help="Frames to read (the flow stack has one fewer; at most 1000).")
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True, help="First frame.")
@click.option("--size", type=click.IntRange(min=16, max=1024), default=112, show_default=True,
              help="Resize (aspect ratio kept) and centre-crop to size x size (at most 1024).")
@click.option("--overwrite", is_flag=True)
def flow(video, out, frames, start, size, overwrite):
    """TV-L1 optical flow of VIDEO, saved as the two-stream model input and as a flow video."""
    import numpy as np

    from stviz_core.atomic import atomic_path
    from ..media.render import flow_to_rgb, write_gif, write_mp4
    from ..video_inputs import FLOW_SCALE, rgb_input, tvl1_flow

    clip = read_video(video, start, frames, size)
    out = out_dir(out, overwrite)
    uv = tvl1_flow(clip)
    rgb = rgb_input(clip[len(clip) // 2][None])
    flow_input = uv * FLOW_SCALE
    path = out / "input.npz"
    with atomic_path(path) as tmp:
        np.savez(tmp, rgb=rgb[None], flow=flow_input[None])
    frames_rgb = flow_to_rgb(uv)
    write_gif(frames_rgb, out / "flow.gif")
    write_mp4(frames_rgb, out / "flow.mp4")
    click.echo(f"stviz flow: {len(uv)} flow fields of {size}x{size}, mean (u, v) = "
               f"({uv[..., 0].mean():+.2f}, {uv[..., 1].mean():+.2f}) px/frame; wrote {path} "
               f"(the model input: rgb (1, 1, {size}, {size}, 3), flow (1, {len(uv)}, {size}, "
               f"{size}, 2)) and the flow video as {out / 'flow.gif'} and {out / 'flow.mp4'}")
