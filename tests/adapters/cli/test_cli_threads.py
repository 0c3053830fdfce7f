"""Every stviz command takes --threads, and hands it to stviz_core.threads."""

import pytest

click = pytest.importorskip("click")
from click.testing import CliRunner  # noqa: E402

from stviz_adapters.cli import cli  # noqa: E402
from stviz_core import threads  # noqa: E402


def test_every_command_takes_threads():
    for name, command in cli.commands.items():
        assert any(p.name == "threads" for p in command.params), name


def test_the_option_reaches_the_policy(monkeypatch):
    monkeypatch.setitem(threads._STATE, "requested", None)
    asked = []
    monkeypatch.setattr(threads, "request", lambda n, **kw: asked.append((n, kw["source"])))
    result = CliRunner().invoke(cli, ["report", "--threads", "3", "--help"])
    assert result.exit_code == 0, result.output
    assert CliRunner().invoke(cli, ["report", "--threads", "free", "--help"]).exit_code == 0
    assert asked == [(3, "--threads"), ("free", "--threads")]
    bad = CliRunner().invoke(cli, ["report", "--threads", "0", "x"])
    assert bad.exit_code == 2 and "--threads must be an integer >= 1, 'free'" in bad.output
