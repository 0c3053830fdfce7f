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

        threads.request(value, source="--threads")
    return value


#: the decorator each command carries (the value goes to stviz_core.threads, not to the command)
threads_option = click.option(
    "--threads", type=click.IntRange(min=1), default=None, expose_value=False, is_eager=True,
    callback=_request,
    help="Threads the framework computes with (also STVIZ_THREADS). Default: chosen for the "
         "work, one thread for a small model, else the cores other work leaves free.")


def on_every_command(group: click.Group) -> None:
    """Give every command of ``group`` the ``--threads`` option (once; commands that have it
    keep theirs)."""
    for command in group.commands.values():
        if not any(p.name == "threads" for p in command.params):
            threads_option(command)
