"""The ``stviz`` command line (also ``python -m stviz``), built on click.

Commands: ``demo``, ``visualize``, ``sweep``, ``compare``, ``report``, ``flow``, ``record``,
``invert``, ``accentuate``. Every output file is written to a temporary name and renamed,
results are saved as each run finishes, and Ctrl-C stops after saying what was saved.

One module per command group: :mod:`.visualizing` (demo, visualize, compare),
:mod:`.sweeping` (sweep), :mod:`.reporting` (report, flow), :mod:`.recording`
(record), :mod:`.inverting` (invert, accentuate); :mod:`.group` holds the click
group, :mod:`.common` what they share, and this module the console script's
entry point with its one error path.
"""

from __future__ import annotations

import sys

import click

from . import (inverting, recording, reporting, sweeping,  # noqa: F401 - they register the commands
               visualizing)
from .common import CREATED, load_model
from .common import quality_warnings as _quality_warnings  # noqa: F401 - the name tests import
from .group import cli
from .threads_option import on_every_command
from .reporting import flow, report  # noqa: F401 - the 0.1 module's command objects
from .sweeping import sweep  # noqa: F401
from .visualizing import compare, demo, visualize  # noqa: F401

__all__ = ["main", "cli", "load_model", "describe_failure"]

on_every_command(cli)  # --threads (stviz_core.threads decides; issue 27)

def main(argv=None):
    """Entry point of the ``stviz`` console script: every failure is one line and an exit status.

    Usage errors exit with 2, failed runs with 1, Ctrl-C with 130; ``stviz
    --debug COMMAND ...`` shows the traceback instead. A failed command leaves
    no empty output folder behind.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    CREATED.clear()
    status = 1
    try:
        status = _run(argv)
        return status
    finally:
        if status != 0:
            _remove_empty(CREATED)


def _run(argv) -> int:
    try:
        return cli.main(args=argv, prog_name="stviz", standalone_mode=False) or 0
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - the one place that turns any failure into a message
        if "--debug" in argv[: argv.index("--") if "--" in argv else len(argv)]:
            raise
        click.echo(f"Error: {describe_failure(exc)} (stviz --debug ... shows the traceback)", err=True)
        return 1


def _remove_empty(folders) -> None:
    """Remove the folders a failed command created and left empty (deepest first)."""
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        try:
            folder.rmdir()
        except OSError:
            pass  # not empty, or gone
    folders.clear()


def describe_failure(exc: BaseException) -> str:
    """One line that says what went wrong, and what to do where stviz knows it."""
    if isinstance(exc, ImportError) and exc.name in ("keras", "tensorflow", "tf_keras"):
        return f"{exc.name} is not installed: pip install \"stviz[keras]\" tensorflow"
    if isinstance(exc, ImportError) and exc.name == "torch":
        return "PyTorch is not installed: pip install \"stviz[torch]\""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, (ValueError, FileNotFoundError)) or type(exc).__module__.startswith("stviz"):
        return first or type(exc).__name__
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
