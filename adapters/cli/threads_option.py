"""``--threads``, which every ``stviz`` command takes: the framework's threads for the command.

The decision is :mod:`stviz_core.threads`'s (one place for the library, the commands and the
sweep workers); the option only hands the number over before the command loads a model.
"""

from __future__ import annotations

import click

__all__ = ["threads_option", "on_every_command"]


def _request(ctx, param, value):
    if value is not None:
        from stviz_core import threads

        try:
            value = threads.check_threads(value, "--threads")
        except (TypeError, ValueError) as exc:
            raise click.BadParameter(str(exc)) from None
        threads.request(value, source="--threads")
    return value


#: the decorator each command carries (the value goes to stviz_core.threads, not to the command)
threads_option = click.option(
    "--threads", type=str, default=None, expose_value=False, is_eager=True,
    callback=_request, metavar="N|free",
    help="Threads the framework computes with (also STVIZ_THREADS). Default: chosen for the "
         "work, one thread for a small model, else every core (same bytes on every rerun); "
         "'free': the cores other work leaves free (faster on a shared machine, but the "
         "bytes follow its load).")


def on_every_command(group: click.Group) -> None:
    """Give every command of ``group`` the ``--threads`` option (once; commands that have it
    keep theirs)."""
    for command in group.commands.values():
        if not any(p.name == "threads" for p in command.params):
            threads_option(command)
