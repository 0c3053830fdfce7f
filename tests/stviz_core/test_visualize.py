"""Backend plugins: selection by model and by name, and the one-call visualize()."""

import numpy as np
import pytest

import stviz_core as sv
from stviz_core.testing import LinearBackend


class LinearModel:
    """Stands in for a framework model: a per-pixel weight vector per channel."""

    def __init__(self, weights):
        self.weights = np.asarray(weights, dtype=float)  # (C, K)


class LinearPlugin:
    name = "linear"

    def __init__(self):
        self.closed = 0

    def accepts(self, model):
        return isinstance(model, LinearModel)

    def create(self, model, *, layer, inputs):
        if layer != "out":
            raise ValueError(f"unknown layer {layer!r}; layers: 'out'")
        plugin = self

        class Closing(LinearBackend):
            def close(self):
                plugin.closed += 1

        c, k = model.weights.shape
        return Closing({n: model.weights.reshape(1, 1, 1, c, k) for n in inputs}, inputs, xp=np)


class RefusingPlugin:
    name = "other"

    def accepts(self, model):
        return False

    def create(self, model, **kw):  # pragma: no cover - never selected
        raise AssertionError


def test_visualize_selects_the_accepting_plugin_and_closes_the_backend():
    plugin = LinearPlugin()
    model = LinearModel(np.eye(3))
    r = sv.visualize(model, "out", channels=[0, 2], inputs={"rgb": (1, 4, 4, 3)}, steps=40,
                     plugins={"a-other": RefusingPlugin(), "linear": plugin}, learning_rate=8.0, preset="paper")
    assert plugin.closed == 1
    assert r.config["objectives"] == ["channel(0)", "channel(2)"]
    rgb = r.inputs["rgb"]
    assert (rgb[0, ..., 0] > 100).all() and (rgb[1, ..., 2] > 100).all()


def test_backend_is_closed_when_the_run_fails():
    plugin = LinearPlugin()
    with pytest.raises(ValueError, match="channel 5 is out of range"):
        sv.visualize(LinearModel(np.eye(3)), "out", channels=5, inputs={"rgb": (1, 4, 4, 3)},
                     steps=2, plugins={"linear": plugin}, preset="paper")
    assert plugin.closed == 1


def test_selection_errors_list_the_installed_backends():
    with pytest.raises(ValueError, match="no installed backend accepts a model of type builtins.str; "
                                         "installed backends: linear, other"):
        sv.select_plugin("a string", available={"linear": LinearPlugin(), "other": RefusingPlugin()})
    with pytest.raises(ValueError, match="unknown backend 'jax'; valid choices: 'linear'"):
        sv.select_plugin(LinearModel(np.eye(2)), backend="jax", available={"linear": LinearPlugin()})
    with pytest.raises(ValueError, match="unknown layer 'fc9'; layers: 'out'"):
        sv.visualize(LinearModel(np.eye(3)), "fc9", channels=[0], inputs={"rgb": (1, 4, 4, 3)},
                     plugins={"linear": LinearPlugin()}, preset="paper")
    with pytest.raises(ValueError, match="exactly one of channels= and objective="):
        sv.visualize(LinearModel(np.eye(3)), "out", inputs={"rgb": (1, 4, 4, 3)}, preset="paper")


def test_installed_plugins_come_from_entry_points():
    assert isinstance(sv.plugins(), dict)


def test_input_spec_validation():
    with pytest.raises(ValueError, match=r"\(T, H, W, C\) with every size >= 1"):
        sv.InputSpec((4, 4, 3))
    with pytest.raises(ValueError, match="valid choices: 'appearance', 'motion'"):
        sv.InputSpec((1, 4, 4, 3), role="depth")
