"""Issue 28 on the command line: nothing half-written, nothing silently dropped.

A failing command removes what it added; ``stviz report`` names every file it
could not read (on the page and in its output, ``--strict`` an error) and
clears the temporaries a killed page write left.
"""

import json

import numpy as np
import pytest

pytest.importorskip("click")
pytest.importorskip("torch")
pytest.importorskip("imageio")

import stviz_core as sv  # noqa: E402
from stviz_adapters.cli import main  # noqa: E402
from stviz_core.testing import LinearBackend  # noqa: E402

MODEL = "tests.adapters.cli.test_bad_input_table:tiny_model"


def _clip(tmp_path):
    np.savez(tmp_path / "clip.npz", clip=np.random.default_rng(0).normal(size=(1, 4, 10, 10, 3)))
    return str(tmp_path / "clip.npz")


def test_a_command_failing_midway_removes_what_it_added(tmp_path, monkeypatch, capsys):
    """invert writes clip.npz and a layer's result, then its second layer fails: both go, and a
    file that was in the folder before (--overwrite) stays."""
    real_invert, calls = sv.invert, []

    def second_fails(*args, **kwargs):
        calls.append(args[1])
        if len(calls) == 2:
            raise ValueError("the second layer failed")
        return real_invert(*args, **kwargs)

    monkeypatch.setattr(sv, "invert", second_fails)
    out = tmp_path / "out"
    args = ["invert", MODEL, _clip(tmp_path), "--layer", "0,2", "--steps", "1", "--quiet",
            "--out", str(out)]
    assert main(args) == 1
    assert "the second layer failed" in capsys.readouterr().err
    assert calls == ["0", "2"] and not out.exists()
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    calls.clear()
    assert main(args + ["--overwrite"]) == 1
    assert sorted(p.name for p in out.rglob("*")) == ["notes.txt"]


def _linear():
    be = LinearBackend({"rgb": np.ones((1, 3, 3, 3, 2))}, {"rgb": (1, 8, 8, 3)}, xp=np)
    be.activation_shape, be.layer = (1, 1, 6, 6, 2), "lin"
    return be


def _folder_with_broken_results(folder):
    """Two good results and three broken ones: a cut .npz, a cut .json, a newer format."""
    folder.mkdir()
    for stem in ("good_a", "good_b", "cut_npz", "cut_json", "future"):
        sv.ascend(_linear(), [sv.channel(0)], steps=1, seed=0).save(folder / stem)
    (folder / "cut_npz.npz").write_bytes((folder / "cut_npz.npz").read_bytes()[:200])
    (folder / "cut_json.json").write_text((folder / "cut_json.json").read_text()[:30])
    sidecar = json.loads((folder / "future.json").read_text())
    (folder / "future.json").write_text(json.dumps(dict(sidecar, version=99)))
    return folder


def test_report_names_every_file_it_could_not_read(tmp_path, capsys):
    folder = _folder_with_broken_results(tmp_path / "results")
    assert main(["report", str(folder)]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("unreadable: ")]
    assert len(lines) == 3
    assert any("cut_npz.npz: cut_npz.npz does not match its sidecar" in line for line in lines)
    assert any("cut_json.json: not JSON" in line for line in lines)
    assert any("future.npz: future.json is a stviz result of format version 99" in line
               for line in lines)
    page = (folder / "index.html").read_text()
    assert "Files that could not be read" in page
    assert all(name in page for name in ("cut_npz.npz", "cut_json.json", "future.npz"))
    assert all(name in page for name in ("good_a", "good_b"))
    assert main(["report", str(folder / ".."), "--quiet"]) == 1  # no results at all: an error
    assert "no results in" in capsys.readouterr().err


def test_report_strict_exits_non_zero_and_keeps_the_page(tmp_path, capsys):
    folder = _folder_with_broken_results(tmp_path / "results")
    assert main(["report", str(folder), "--strict", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "Error: 3 file(s) in" in err and "--strict makes that an error" in err
    assert "Files that could not be read" in (folder / "index.html").read_text()
    assert not (folder / ".stviz-lock").exists()


def test_report_removes_the_temporaries_a_killed_report_left(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    sv.ascend(_linear(), [sv.channel(0)], steps=1, seed=0).save(folder / "good")
    (folder / "media").mkdir()
    strays = [folder / "media" / ".good_0_rgb.gif.x1y2z3.tmp.gif", folder / ".index.html.abc.tmp.html",
              folder / ".grid_lin.png.q.tmp.png"]
    for stray in strays:
        stray.write_bytes(b"half a file")
    assert main(["report", str(folder), "--quiet"]) == 0
    assert not [s for s in strays if s.exists()]
    assert not [p for p in folder.rglob(".*") if ".tmp" in p.name]
    assert (folder / "index.html").exists()


def test_visualize_takes_a_numpy_integer_as_channels():
    from tests.adapters.cli.test_bad_input_table import tiny_model

    result = sv.visualize(tiny_model(), "2", channels=np.int64(1), steps=1, preset="paper")
    assert len(result) == 1 and result.config["objectives"] == ["channel(1)"]


def test_a_grid_merges_repeated_settings_into_one_cell_each():
    """A sweep's result names are unique per run: 1 and 1.0 are one gamma, a repeated seed, layer
    or preset one cell (merged; stviz visualize --gamma 1,1.0 is refused instead)."""
    from stviz_adapters.sweep.grid import Grid

    grid = Grid.from_dict({"model": "stviz_adapters.demo.model:load_demo_model",
                           "layers": ["fc8", "fc8"], "seeds": [0, 0, 1], "gamma": [1, 1.0],
                           "kappa": [2, 2.0], "presets": ["paper", "paper"]})
    assert (grid.layers, grid.seeds, grid.gamma, grid.kappa, grid.presets) == \
        (("fc8",), (0, 1), (1.0,), (2.0,), ("paper",))


def test_a_page_with_a_manifest_lists_unreadable_files_as_they_are_now(tmp_path, capsys):
    folder = tmp_path / "results"
    folder.mkdir()
    sv.ascend(_linear(), [sv.channel(0)], steps=1, seed=0).save(folder / "good")
    assert main(["report", str(folder), "--quiet"]) == 0  # writes report/sections.json
    first = (folder / "index.html").read_text()
    sv.ascend(_linear(), [sv.channel(1)], steps=1, seed=0).save(folder / "late")
    (folder / "late.npz").write_bytes(b"cut")
    assert main(["report", str(folder), "--quiet"]) == 0
    assert "unreadable: " in capsys.readouterr().err
    assert "late.npz" in (folder / "index.html").read_text()
    (folder / "late.npz").unlink()
    (folder / "late.json").unlink()
    assert main(["report", str(folder), "--quiet"]) == 0
    assert (folder / "index.html").read_text() == first  # the note is gone with the file
