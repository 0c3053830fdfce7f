"""stviz demo --units: refused past conv5_fusion's channels, and says when fewer are shown (#18 item 12)."""

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("cv2")

from stviz_adapters.cli import main  # noqa: E402
from stviz_adapters.demo import run as demo_run  # noqa: E402
from stviz_adapters.demo import synthetic_actions as data  # noqa: E402
from stviz_adapters.activity import Activity  # noqa: E402


def test_more_units_than_conv5_fusion_has_are_refused_before_anything_runs(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"units must be an integer from 0 to 64 \(conv5_fusion .* "
                                         r"has 64 channels\), got 100"):
        demo_run.run_demo(tmp_path / "api", units=100)
    assert not (tmp_path / "api").exists()
    assert main(["demo", "--out", str(tmp_path / "cli"), "--units", "100"]) == 2
    assert "100 is not in the range 0<=x<=64" in capsys.readouterr().err
    assert not (tmp_path / "cli").exists()


def test_fewer_live_units_than_asked_are_shown_and_said(tmp_path, monkeypatch, capsys):
    k = 64
    a_hat = -np.ones(k)
    a_hat[[5, 9]] = [3.0, 2.0]  # two channels fire on the (stand-in) validation clips
    classes = list(data.CLASSES)
    activity = Activity("conv5_fusion", a_hat, np.tile(a_hat, (len(classes), 1)),
                        np.zeros((k, 1), int), a_hat[:, None], classes)
    monkeypatch.setattr(demo_run, "record_cached", lambda *a, **kw: activity)
    messages = []
    summary = demo_run.run_demo(tmp_path / "api", steps=1, units=3, gammas=(0.0,),
                                log=messages.append, report=False, kinetics_section=False)
    assert summary["conv5_fusion_units"] == [5, 9]
    assert summary["conv5_fusion_units_asked"] == 3 and summary["conv5_fusion_live"] == 2
    assert any("only 2 of its 64 channels fire" in m and "showing 2 unit(s), not the 3" in m
               for m in messages)
    monkeypatch.setattr(demo_run, "run_demo", lambda out, **kw: summary)  # the CLI's last line
    assert main(["demo", "--out", str(tmp_path / "cli"), "--steps", "1", "--units", "3",
                 "--quiet"]) == 0
    assert "2 conv5_fusion unit(s) shown, not 3: only 2 fire" in capsys.readouterr().out
