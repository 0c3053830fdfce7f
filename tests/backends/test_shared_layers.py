"""A target layer called more than once in one forward pass (issue #18 item 2).

stviz used to visualize the first call without a word. Now such a layer is refused with the
number of calls, and ``layer="name:k"`` picks call ``k`` (PyTorch and Keras functional models).
"""

import numpy as np
import pytest

import stviz_core as sv
from stviz_core.layouts import Image2D

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from stviz_backends.torch import TorchBackend  # noqa: E402


class SharedBlock(nn.Module):
    """``block`` (a conv) applied twice: x -> block -> relu -> block."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.block = nn.Conv2d(3, 3, 3, padding=1)
        self.head = nn.Conv2d(3, 2, 1)
        self.stviz_inputs, self.stviz_layout = {"rgb": (1, 8, 8, 3)}, Image2D()

    def forward(self, x):
        return self.head(self.block(torch.relu(self.block(x))))


def test_a_shared_module_is_refused_with_its_call_count():
    with pytest.raises(ValueError, match=r"'block' is called 2 times in one forward pass.*block:0, block:1"):
        TorchBackend(SharedBlock(), "block")


def test_a_named_call_is_the_one_visualized():
    model = SharedBlock()
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        first = model.block(x)
        second = model.block(torch.relu(first))
    canonical = {"rgb": x.permute(0, 2, 3, 1)[:, None].contiguous()}
    for call, expected in ((0, first), (1, second)):
        with TorchBackend(model, f"block:{call}") as be:
            acts = be.activations(canonical, for_vjp=False)
            torch.testing.assert_close(acts, expected.permute(0, 2, 3, 1))
            assert be.describe()["layer"] == f"block:{call}"
    with pytest.raises(ValueError, match=r"called 2 times in one forward pass, so its calls are 0..1"):
        TorchBackend(model, "block:2")
    result = sv.visualize(model, "block:1", channels=[0, 2], steps=3, preset="paper")
    assert result.config["layer"] == "block:1"
    with TorchBackend(model, "head") as be:  # a module called once needs no call number
        assert be.activation_shape == (1, 8, 8, 2)


def test_keras_shared_layer_is_refused_and_a_call_can_be_named():
    keras = pytest.importorskip("keras")
    inp = keras.Input((8, 8, 3))
    shared = keras.layers.Conv2D(3, 3, padding="same", name="block")
    y = keras.layers.Conv2D(2, 1, name="head")(shared(keras.layers.ReLU()(shared(inp))))
    model = keras.Model(inp, y)
    model.stviz_inputs, model.stviz_layout = {"rgb": (1, 8, 8, 3)}, Image2D(channels_first=False)
    from stviz_backends.keras import KerasBackend

    with pytest.raises(ValueError, match=r"'block' is called 2 times in the model's graph.*block:0, block:1"):
        KerasBackend(model, "block")
    x = np.random.default_rng(0).standard_normal((2, 8, 8, 3)).astype("float32")
    first = shared(x)
    second = np.asarray(shared(np.maximum(np.asarray(first), 0)))
    be = KerasBackend(model, "block:1")
    acts = be.activations({"rgb": x[:, None]}, for_vjp=False)
    np.testing.assert_allclose(np.asarray(acts), second, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="so its calls are 0..1"):
        KerasBackend(model, "block:5")
