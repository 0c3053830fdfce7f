"""The ``stviz`` click group that every command module registers with."""

from __future__ import annotations

import click

__all__ = ["cli"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="stviz")
@click.option("--debug", is_flag=True, help="Show the full traceback when a command fails.")
def cli(debug):
    """stviz: what excites a unit of a video network, in appearance and motion.

    Each command writes results as .npz + .json pairs (load them with
    stviz_core.load), figure grids as PNG and an animated manuscript
    (index.html) into its output folder.
    """
