"""Models named by a string or a file: what may run code, and the guards (#18 items 6, 7, 13)."""

from __future__ import annotations

import pickle

import pytest

from stviz_adapters.model_loading import check_spec, load_model
from stviz_adapters.sweep.grid import load_grid

torch = pytest.importorskip("torch")


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


def test_a_pickle_that_runs_code_is_not_run_without_trust(tmp_path):
    marker = tmp_path / "ran"
    (tmp_path / "evil.pt").write_bytes(pickle.dumps(_Evil(marker)))
    with pytest.raises(ValueError, match="runs code stored in the file.*--trust-pickle"):
        load_model(str(tmp_path / "evil.pt"))
    assert not marker.exists()


def test_a_pickled_model_loads_only_when_trusted(tmp_path):
    from stviz_adapters.zoo.vgg_c3d_torch import two_stream_small

    torch.save(two_stream_small(width=0.25, input_size=32, flow_frames=2), tmp_path / "net.pt")
    with pytest.raises(ValueError, match="--trust-pickle"):
        load_model(str(tmp_path / "net.pt"))
    assert isinstance(load_model(str(tmp_path / "net.pt"), trust_pickle=True), torch.nn.Module)


@pytest.mark.parametrize("spec", ['subprocess:getoutput(cmd="echo hi")', "os:system", "shutil:rmtree",
                                  "builtins:eval", "sh:rm"])
def test_specs_calling_the_standard_library_or_process_modules_are_refused(spec):
    with pytest.raises(ValueError, match="may not call functions of"):
        load_model(spec)


def test_a_grid_file_calls_only_stviz_unless_trusted(tmp_path):
    (tmp_path / "mine.py").write_text("def build():\n    return 1\n")
    grid = tmp_path / "grid.toml"
    grid.write_text('model = "mine:build"\nlayers = ["x"]\n')
    with pytest.raises(ValueError, match="comes from a file and calls code outside stviz"):
        load_grid(grid)
    assert load_grid(grid, trust_pickle=True).trust_pickle
    assert load_grid(grid, {"model": "mine:build"}).model == "mine:build"  # typed by the user
    grid.write_text('model = "stviz_adapters.demo.model:load_demo_model"\nlayers = ["fc8"]\n')
    assert not load_grid(grid).trust_pickle
    check_spec("mine:build")  # typed by the user: the user's own module is fine


def test_spec_arguments_take_arithmetic_on_numbers():
    model = load_model("stviz_adapters.zoo.vgg_c3d_torch:two_stream_small(width=1/4, input_size=16*2, "
                       "flow_frames=2)")
    assert model.rgb.conv1.out_channels == 4
    for bad in ('stviz_adapters.zoo.vgg_c3d_torch:c3d(width="a"*3)', "stviz_adapters.zoo.vgg_c3d_torch:c3d(w=1/0)",
                "stviz_adapters.zoo.vgg_c3d_torch:c3d(width=__import__('os'))"):
        with pytest.raises(ValueError, match="keyword=literal"):
            load_model(bad)
