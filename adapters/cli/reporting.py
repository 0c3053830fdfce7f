"""``stviz report`` and ``stviz flow``: pages from saved results, flow from a video."""

from __future__ import annotations

from pathlib import Path

import click

from .common import out_dir, read_video
from .group import cli


@cli.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--by-layer", is_flag=True,
              help="Also draw layers.png: one band per layer, units sized by receptive field.")
@click.option("--most", type=int, default=8, show_default=True,
              help="With --by-layer: units shown for the layer with the smallest field.")
@click.option("--quiet", "-q", is_flag=True)
def report(folder, by_layer, most, quiet):
    """Rebuild figure grids and the animated manuscript (index.html) from saved results in FOLDER.

    A folder whose page stviz wrote (stviz demo, sweep, invert, accentuate,
    report) gets the same page again, from the sections its manifest
    (report/sections.json) records; another folder gets a figure grid and the
    cards of every result in it, per layer.
    """
    from ..media.report import rebuild_report

    try:
        rebuild_report(folder, by_layer=by_layer, most=most,
                       log=(lambda *a: None) if quiet else click.echo)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"stviz report: {folder / 'index.html'}")


@cli.command()
@click.argument("video", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option("--frames", type=click.IntRange(min=2), default=11, show_default=True,
              help="Frames to read (the flow stack has one fewer).")
@click.option("--start", type=click.IntRange(min=0), default=0, show_default=True, help="First frame.")
@click.option("--size", type=click.IntRange(min=16), default=112, show_default=True,
              help="Resize (aspect ratio kept) and centre-crop to size x size.")
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
