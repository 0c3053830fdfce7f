"""The ``stviz`` click group that every command module registers with.

The group runs each command under the CLI's rule for failures: a command that
fails removes what it added to its output folders (:func:`.common.undo_written`;
folders it created and left empty go too, in :func:`stviz_adapters.cli.main`).
An interrupted command (Ctrl-C) keeps what it finished and says so.
"""

from __future__ import annotations

import click

from .common import WRITTEN, release_held, undo_written

__all__ = ["cli"]


def _failed(exc: BaseException) -> bool:
    """Whether ``exc`` ends a command as a failure (not a success or an interruption)."""
    if isinstance(exc, (KeyboardInterrupt, click.exceptions.Abort)):
        return False
    if isinstance(exc, SystemExit):
        return exc.code not in (None, 0, 130)
    if isinstance(exc, click.exceptions.Exit):
        return exc.exit_code not in (0, 130)
    return True


class _Group(click.Group):
    """A click group whose failing commands leave nothing half-written behind; the output
    folders' locks are given back after that."""

    def invoke(self, ctx):
        WRITTEN.clear()
        try:
            return super().invoke(ctx)
        except BaseException as exc:
            if _failed(exc):
                undo_written()
            raise
        finally:
            WRITTEN.clear()
            release_held()


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="stviz")
@click.option("--debug", is_flag=True, help="Show the full traceback when a command fails.")
def cli(debug):
    """stviz: what excites a unit of a video network, in appearance and motion.

    Each command writes results as .npz + .json pairs (load them with
    stviz_core.load), figure grids as PNG and an animated manuscript
    (index.html) into its output folder.
    """
