"""One default preset (issue 24 item 4): sv.visualize, stviz visualize and stviz sweep take
presets.DEFAULT when told nothing; invert and accentuate keep the paper's; --preset paper
still reproduces the paper."""

import numpy as np
import pytest

pytest.importorskip("click")
pytest.importorskip("torch")

import stviz_core as sv  # noqa: E402
from stviz_core import inversion, presets  # noqa: E402
from stviz_core.testing import LinearBackend  # noqa: E402
from stviz_adapters.cli import main  # noqa: E402
from stviz_adapters.cli.visualizing import visualize as visualize_command  # noqa: E402
from stviz_adapters.sweep.grid import KEYS, Grid, make_cells  # noqa: E402

TINY = "tests.adapters.cli.test_cli:tiny_model"


def linear_backend():
    rng = np.random.default_rng(0)
    return LinearBackend({"rgb": rng.normal(size=(1, 4, 4, 3, 2))}, {"rgb": (1, 4, 4, 3)}, xp=np)


def preset_name(result) -> str:
    return result.config["preset"]["name"]


def test_the_default_is_the_canvas_preset_measured_best():
    assert presets.DEFAULT == "canvas" and presets.DEFAULT in presets.names()
    assert sv.RunOptions().preset is None  # left open: the caller's default
    assert sv.RunOptions().filled().preset == presets.get(presets.DEFAULT)
    assert sv.RunOptions(preset="paper").filled().preset == presets.paper()


def test_the_entry_points_share_the_one_default(tmp_path):
    # sv.ascend / sv.visualize: a run told nothing runs presets.DEFAULT, paper when asked
    assert preset_name(sv.ascend(linear_backend(), sv.channel(0), steps=1)) == presets.DEFAULT
    assert preset_name(sv.ascend(linear_backend(), sv.channel(0), steps=1,
                                 options=sv.RunOptions(seed=1))) == presets.DEFAULT
    assert preset_name(sv.ascend(linear_backend(), sv.channel(0), steps=1, preset="paper")) == "paper"
    # stviz visualize: the option's default is the same name, and a run without --preset uses it
    option = next(p for p in visualize_command.params if p.name == "preset")
    assert option.default == presets.DEFAULT
    out = tmp_path / "cli"
    assert main(["visualize", TINY, "--layer", "2", "--channels", "0", "--steps", "1",
                 "--out", str(out), "--quiet"]) == 0
    assert preset_name(sv.load(out / "2_gamma1")) == presets.DEFAULT
    # stviz sweep: a grid that names no preset runs presets.DEFAULT, at its steps
    assert KEYS["presets"][0] == [presets.DEFAULT]
    grid = Grid.from_dict({"model": TINY, "layers": ["2"], "units": [0]})
    assert grid.presets == (presets.DEFAULT,)
    (cell,) = make_cells(grid, {"2": 3}, {"spec": TINY, "fingerprint": "f" * 64}, "torch")
    assert cell.preset == presets.DEFAULT and cell.steps == presets.get(presets.DEFAULT).steps
    assert cell.run_options().preset == presets.get(presets.DEFAULT)


def test_paper_reproduces_the_paper_on_every_entry_point(tmp_path):
    out = tmp_path / "cli"
    assert main(["visualize", TINY, "--layer", "2", "--channels", "0", "--steps", "2",
                 "--preset", "paper", "--out", str(out), "--quiet"]) == 0
    by_cli = sv.load(out / "2_gamma1")
    from tests.adapters.cli.test_cli import tiny_model

    by_api = sv.visualize(tiny_model(), "2", channels=[0], steps=2, seed=0,
                          preset=presets.paper(gamma=1.0))
    assert preset_name(by_cli) == "paper" and by_cli.config["preset"] == by_api.config["preset"]
    np.testing.assert_array_equal(by_cli.inputs["clip"], by_api.inputs["clip"])
    grid = Grid.from_dict({"model": TINY, "layers": ["2"], "units": [0], "presets": ["paper"]})
    (cell,) = make_cells(grid, {"2": 3}, {"spec": TINY, "fingerprint": "f" * 64}, "torch")
    assert cell.run_options().preset == presets.paper() and cell.steps == presets.paper().steps


def test_inversion_and_accentuation_keep_the_papers_preset():
    be = linear_backend()
    clip = {"rgb": np.random.default_rng(1).normal(scale=20.0, size=(1, 1, 4, 4, 3))}
    assert preset_name(inversion.invert(be, clip, steps=1)) == "paper"
    assert preset_name(inversion.accentuate(be, clip, sv.channel(0), steps=1)) == "paper"
    assert preset_name(inversion.invert(be, clip, steps=1, preset="fourier")) == "fourier"
