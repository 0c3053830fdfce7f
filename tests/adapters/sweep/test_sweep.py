"""Sweeps: grid files, cell ids, the local and Ray engines, retries, resuming, refusals."""

import json

import numpy as np
import pytest

import stviz_core as sv
from stviz_adapters.sweep import run as sweep_module
from stviz_adapters.cli import main
from stviz_adapters.demo.model import load_demo_model
from stviz_adapters.model_loading import fingerprint
from stviz_adapters.sweep.run import SweepFolder, run_sweep
from stviz_adapters.sweep.grid import Grid, load_grid, make_cells, parse_units

DEMO = "stviz_adapters.demo.model:load_demo_model"
SMALL = dict(model=DEMO, layers=["conv5_fusion", "fc8"],
             units={"conv5_fusion": "0:4", "fc8": [2, 5]}, gamma=[0, 5], steps=8, batch=2,
             normalize=False, presets=["paper"])  # the paper's gamma comparison (not the default)


def middle_checkpoint():
    """Another model with the demo's layers (a different checkpoint): for the refusal test."""
    return load_demo_model("middle")


def small_grid(**changes):
    return Grid.from_dict({**SMALL, **changes})


def demo_cells(grid, channels):
    """The cells the driver plans for ``grid`` on the demo model (its real weights' fingerprint)."""
    model_id = {"spec": DEMO, "fingerprint": fingerprint(load_demo_model())}
    return make_cells(grid, channels, model_id, "torch")


def events(folder):
    lines = (folder / "log.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def cell_files(folder):
    return {p.stem: p.read_bytes() for p in sorted((folder / "cells").glob("*.npz"))}


def cell_arrays(folder):
    """Each cell's arrays (its inputs, objective values), without the run's records: an
    engine records its own thread choice (a Ray task's CPUs against the local policy)."""
    cells = {}
    for p in sorted((folder / "cells").glob("*.npz")):
        with np.load(p) as data:
            arrays = {k: data[k] for k in data.files}
            cells[p.stem] = {k: v for k, v in arrays.items()
                             if isinstance(v, np.ndarray) and v.dtype.kind in "fciub"}
    return cells


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "sweep"
    seen = []
    summary = run_sweep(small_grid(), out, progress=seen.append)
    return out, summary, seen


# -- the grid -------------------------------------------------------------------------


def test_grid_files_in_toml_and_yaml_give_the_same_grid(tmp_path):
    toml = tmp_path / "grid.toml"
    toml.write_text(f'model = "{DEMO}"\nlayers = ["conv5_fusion"]\nunits = "0:4"\n'
                    "gamma = [0, 1, 5, 10]\nkappa = [1, 2.5]\nsteps = 20\n")
    yaml = tmp_path / "grid.yaml"
    yaml.write_text(f"model: {DEMO}\nlayers: [conv5_fusion]\nunits: '0:4'\n"
                    "gamma: [0, 1, 5, 10]\nkappa: [1, 2.5]\nsteps: 20\n")
    a, b = load_grid(toml), load_grid(yaml)
    assert a == b
    assert a.gamma == (0.0, 1.0, 5.0, 10.0) and a.kappa == (1.0, 2.5) and a.steps == 20
    assert load_grid(toml, {"steps": 5, "gamma": "0,1", "units": None}).steps == 5
    assert load_grid(toml, {"gamma": "0,1"}).gamma == (0.0, 1.0)


def test_an_unknown_key_is_named_with_a_hint_and_the_valid_keys(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text(f'model = "{DEMO}"\nlayers = ["fc8"]\ngama = [0, 1]\n')
    with pytest.raises(ValueError, match=r"unknown key 'gama' \(did you mean 'gamma'\?\) in .*"
                                         r"grid.toml; valid keys: model, layers"):
        load_grid(path)


@pytest.mark.parametrize("changes, message", [
    ({"layers": []}, "has no 'layers'"),
    ({"presets": ["lucid"]}, "unknown preset 'lucid'; valid choices: 'paper', 'nnpreimage'"),
    ({"gamma": [-1]}, "'gamma' values must be >= 0"),
    ({"gamma": [float("inf")]}, "'gamma' values must be >= 0 and finite, got inf"),
    ({"kappa": [1, float("nan")]}, "'kappa' values must be >= 0 and finite, got nan"),
    ({"gamma": "0,inf"}, "'gamma' values must be >= 0 and finite, got inf"),
    ({"batch": 0}, "'batch' must be an integer >= 1"),
    ({"dtype": "float16"}, "valid choices: 'float32', 'float64'"),
    ({"units": {"fc8": "all"}}, "no entry for layer.*conv5_fusion"),
])
def test_bad_grid_values_say_what_is_wrong(changes, message):
    with pytest.raises(ValueError, match=message):
        small_grid(**changes)


def test_a_grid_file_with_a_non_finite_setting_is_refused_when_loaded_not_per_cell(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text(f'model = "{DEMO}"\nlayers = ["fc8"]\ngamma = [0, inf]\n')
    with pytest.raises(ValueError, match=r"grid.toml: 'gamma' values must be >= 0 and finite, got inf"):
        load_grid(path)
    path.write_text(f'model = "{DEMO}"\nlayers = ["fc8"]\nkappa = [nan]\n')
    with pytest.raises(ValueError, match="'kappa' values must be >= 0 and finite, got nan"):
        load_grid(path)


def test_unit_specs_and_ranges_past_the_layer():
    assert parse_units("all", 4) == [0, 1, 2, 3]
    assert parse_units("2:5", 8) == [2, 3, 4]
    assert parse_units("3,1,1", 8) == [1, 3]
    assert parse_units((7,), 8) == [7]
    with pytest.raises(ValueError, match=r"conv5_fusion has 64 channels \(units 0..63\); units "
                                         r"\[64, 65\] are out of range"):
        parse_units("60:66", 64, "conv5_fusion")


def test_cell_ids_are_stable_and_cover_what_changes_the_result():
    grid = small_grid()
    model_id = {"spec": DEMO, "fingerprint": "f" * 64}
    cells = make_cells(grid, {"conv5_fusion": 64, "fc8": 8}, model_id, "torch")
    assert len(cells) == 2 * (4 + 2)
    again = make_cells(small_grid(batch=1, retries=0, device="cpu"),
                       {"conv5_fusion": 64, "fc8": 8}, model_id, "torch")
    assert [c.id for c in cells] == [c.id for c in again]  # how it runs is not in the id
    assert len({c.id for c in cells}) == len(cells)
    other_model = make_cells(grid, {"conv5_fusion": 64, "fc8": 8},
                             {"spec": DEMO, "fingerprint": "e" * 64}, "torch")
    assert not {c.id for c in cells} & {c.id for c in other_model}
    other_steps = make_cells(small_grid(steps=9), {"conv5_fusion": 64, "fc8": 8}, model_id, "torch")
    assert not {c.id for c in cells} & {c.id for c in other_steps}


# -- the local engine -----------------------------------------------------------------


def test_the_local_engine_runs_every_cell_and_writes_the_report(local_sweep):
    out, summary, seen = local_sweep
    assert summary.total == 12 and len(summary.ran) == 12 and summary.complete
    assert len(cell_files(out)) == 12
    manifest = json.loads((out / "sweep.json").read_text())
    assert sorted(manifest["cells"]) == sorted(summary.ran)
    assert seen[-1].done == 12 and seen[-1].remaining == 0 and seen[-1].failed == 0
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    assert (out / "index.html").exists()
    assert sorted(p.name for p in out.glob("grid_*.png")) == [
        "grid_conv5_fusion_paper_k1_s0.png", "grid_fc8_paper_k1_s0.png"]
    assert not (out / "failures.json").exists()


def test_a_cell_holds_what_a_run_of_its_unit_alone_gives(local_sweep):
    out, summary, _ = local_sweep
    folder = SweepFolder(out)
    model = load_demo_model()
    cells = [c for c in demo_cells(small_grid(), {"conv5_fusion": 64, "fc8": 8})
             if c.layer == "fc8" and c.gamma == 5.0]
    cell = cells[1]
    alone = sv.visualize(model, "fc8", objective=sv.channel(cell.unit, normalize=False),
                         preset=sv.presets.paper(gamma=5.0), steps=8, seed=0)
    saved = folder.load_complete(cell)
    assert saved is not None
    assert saved.config["sweep"]["cell"] == cell.id and saved.config["sweep"]["unit"] == 5
    for k in alone.inputs:
        np.testing.assert_allclose(saved.inputs[k], alone.inputs[k], rtol=0, atol=1e-3)
    np.testing.assert_allclose(saved.final["objective"], alone.final["objective"], rtol=1e-4)


def test_a_rerun_skips_complete_cells_and_redoes_partial_ones(local_sweep, tmp_path):
    src, _, _ = local_sweep
    out = tmp_path / "sweep"
    stops = []

    def interrupt_after_two_batches(p):
        if p.done - p.skipped >= 4:
            stops.append(p.done)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(small_grid(), out, progress=interrupt_after_two_batches, report=False)
    first = set(cell_files(out))
    assert len(first) == 4
    broken = sorted(first)[0]
    (out / "cells" / f"{broken}.npz").write_bytes(b"cut short")  # a partial write
    summary = run_sweep(small_grid(), out, report=False)
    assert set(summary.skipped) == first - {broken}
    assert set(summary.ran) == (set(cell_files(src)) - first) | {broken}
    assert cell_files(out) == cell_files(src)  # same bytes as the uninterrupted sweep


def test_a_cell_that_fails_once_is_retried_and_saved_once(tmp_path):
    out = tmp_path / "sweep"
    grid = small_grid(layers=["fc8"])
    cells = demo_cells(grid, {"fc8": 8})
    summary = run_sweep(grid, out, report=False, _fail_first_attempt={cells[0].id})
    assert summary.complete and len(summary.ran) == len(cells)
    log = events(out)
    done = [e["cell"] for e in log if e["event"] == "done"]
    assert sorted(done) == sorted(c.id for c in cells)  # each exactly once
    assert {e["cell"] for e in log if e["event"] == "retry"} == {cells[0].id, cells[1].id}


def test_a_cell_that_keeps_failing_is_reported_and_the_sweep_goes_on(tmp_path, monkeypatch):
    real = sweep_module.run_cells

    def nan_for_unit_5(model, cells, **kw):
        if any(c.unit == 5 for c in cells):
            raise sv.NonFiniteError("the objective is NaN at step 3")
        return real(model, cells, **kw)

    monkeypatch.setattr(sweep_module, "run_cells", nan_for_unit_5)
    out = tmp_path / "sweep"
    summary = run_sweep(small_grid(layers=["fc8"], retries=1), out, report=False)
    assert len(summary.failed) == 2 and len(summary.ran) == 2  # unit 5 at gamma 0 and 5
    failures = json.loads((out / "failures.json").read_text())
    assert {f["unit"] for f in failures.values()} == {5}
    # 2 runs of its batch, then 2 alone
    assert all(f["attempts"] == 4 and "NaN" in f["error"] for f in failures.values())
    monkeypatch.setattr(sweep_module, "run_cells", real)
    again = run_sweep(small_grid(layers=["fc8"], retries=1), out, report=False)
    assert again.complete and set(again.ran) == set(failures)
    assert not (out / "failures.json").exists()


def test_a_folder_holding_another_models_sweep_is_refused(local_sweep, tmp_path):
    out, _, _ = local_sweep
    before = cell_files(out)
    with pytest.raises(ValueError, match="holds a sweep of another model .*Use another output"):
        run_sweep(small_grid(model="tests.adapters.sweep.test_sweep:middle_checkpoint"), out, report=False)
    assert cell_files(out) == before
    stranger = tmp_path / "photos"
    stranger.mkdir()
    (stranger / "holiday.jpg").write_bytes(b"\xff\xd8")
    with pytest.raises(ValueError, match="not empty and holds no sweep"):
        run_sweep(small_grid(), stranger, report=False)
    assert (stranger / "holiday.jpg").read_bytes() == b"\xff\xd8"


def test_unknown_layers_are_named_before_anything_runs(tmp_path):
    with pytest.raises(ValueError, match="no layer 'conv9_fusion'; closest names: conv5_fusion"):
        run_sweep(small_grid(layers=["conv9_fusion"], units="all"), tmp_path / "s")
    assert not (tmp_path / "s").exists()


# -- the command line -------------------------------------------------------------------


def test_stviz_sweep_runs_a_grid_file_and_resumes(tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text(f'model = "{DEMO}"\nlayers = ["fc8"]\nunits = [0, 1]\nsteps = 4\n')
    out = tmp_path / "out"
    assert main(["sweep", str(grid), "--out", str(out), "--quiet", "--no-report"]) == 0
    assert "2 cells: 2 ran" in capsys.readouterr().out
    assert main(["sweep", str(grid), "--out", str(out), "--quiet", "--units", "0:3"]) == 0
    assert "3 cells: 1 ran, 2 already complete" in capsys.readouterr().out
    assert (out / "index.html").exists()


def test_stviz_sweep_reports_bad_keys_and_ranges(tmp_path, capsys):
    grid = tmp_path / "grid.toml"
    grid.write_text(f'model = "{DEMO}"\nlayers = ["fc8"]\nseed = [1]\n')
    assert main(["sweep", str(grid), "--out", str(tmp_path / "o")]) == 2
    assert "unknown key 'seed' (did you mean 'seeds'?)" in capsys.readouterr().err
    assert main(["sweep", "--model", DEMO, "--layers", "fc8", "--units", "6:9",
                 "--out", str(tmp_path / "o")]) == 1
    assert "fc8 has 8 channels (units 0..7); units [8] are out of range" in capsys.readouterr().err


# -- the Ray engine ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_sweep(tmp_path_factory):
    pytest.importorskip("ray", reason="the Ray engine is tested where stviz[ray] is installed")
    out = tmp_path_factory.mktemp("ray") / "sweep"
    cells = demo_cells(small_grid(), {"conv5_fusion": 64, "fc8": 8})
    summary = run_sweep(small_grid(), out, engine="ray", workers=2, report=False,
                        _fail_first_attempt={cells[5].id})
    return out, summary, cells


def test_ray_with_two_workers_gives_the_same_arrays_as_the_local_engine(local_sweep, ray_sweep):
    local_out, _, _ = local_sweep
    ray_out, summary, _ = ray_sweep
    assert summary.complete
    ray_cells, local_cells = cell_arrays(ray_out), cell_arrays(local_out)
    assert ray_cells.keys() == local_cells.keys() and ray_cells
    for name, arrays in local_cells.items():
        assert ray_cells[name].keys() == arrays.keys() and arrays, name
        for key, value in arrays.items():
            np.testing.assert_array_equal(ray_cells[name][key], value, err_msg=f"{name} {key}")


def test_a_killed_ray_worker_ends_with_every_cell_complete_exactly_once(ray_sweep):
    out, summary, cells = ray_sweep
    log = events(out)
    assert sorted(e["cell"] for e in log if e["event"] == "done") == sorted(c.id for c in cells)
    retried = [e for e in log if e["event"] == "retry"]
    assert {e["cell"] for e in retried} == {cells[4].id, cells[5].id}  # its batch
    assert "Crashed" in retried[0]["error"] or "died" in retried[0]["error"].lower()
    assert all(SweepFolder(out).is_complete(c) for c in cells)


def keras_demo():
    """The demo model's Keras twin (same weights): a Keras model for the sweep."""
    return load_demo_model(framework="keras")


def test_a_keras_model_sweeps_like_its_torch_twin(local_sweep, tmp_path):
    torch_out, _, _ = local_sweep
    out = tmp_path / "keras"
    summary = run_sweep(small_grid(model="tests.adapters.sweep.test_sweep:keras_demo", layers=["fc8"]), out,
                        report=False)
    assert summary.complete and len(summary.ran) == 4
    by_setting = lambda folder: {  # noqa: E731
        (r.config["sweep"]["unit"], r.config["sweep"]["gamma"]): r
        for r in (sv.load(p) for p in (folder / "cells").glob("*.json"))
        if r.config["sweep"]["layer"] == "fc8"}
    keras, torch = by_setting(out), by_setting(torch_out)
    assert set(keras) == set(torch)
    for key, r in keras.items():
        assert r.config["sweep"]["backend"] == "keras"
        assert sv.compare(r, torch[key]).correlation["all"][0] > 0.99


def test_ray_tasks_ask_for_a_gpu_only_on_cuda():
    from stviz_adapters.sweep.ray_engine import task_options

    assert task_options(small_grid(device="cuda:0"), 2) == {"num_cpus": 2, "num_gpus": 1,
                                                            "max_retries": 0}
    assert task_options(small_grid())["num_gpus"] == 0


def test_float32_and_float64_sweeps_of_one_model_share_a_folder(tmp_path):
    out = tmp_path / "sweep"
    one = run_sweep(small_grid(layers=["fc8"], units=[0], gamma=[0]), out, report=False)
    two = run_sweep(small_grid(layers=["fc8"], units=[0], gamma=[0], dtype="float64"), out,
                    report=False)
    assert len(one.ran) == len(two.ran) == 1 and set(one.ran) != set(two.ran)
    assert sv.load(out / "cells" / two.ran[0]).inputs["flow"].dtype == np.float64
