"""PyTorch and Keras twins: ported weights give the same activations and the same visualizations."""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
torch = pytest.importorskip("torch")
keras = pytest.importorskip("keras")

import stviz_adapters  # noqa: E402
import stviz_core as sv  # noqa: E402
from stviz_adapters.zoo import vgg_c3d_keras as MK  # noqa: E402
from stviz_adapters.zoo import vgg_c3d_torch as MT  # noqa: E402
from stviz_core.layouts import to_model  # noqa: E402
from stviz_adapters.zoo.porting import keras_to_torch, ported_layers, torch_to_keras  # noqa: E402

B = 160.0
TWO_STREAM = dict(num_classes=7, width=1 / 16, input_size=48, flow_frames=4, fc_width=24)
C3D = dict(num_classes=5, width=1 / 16, frames=16, input_size=32, fc_width=12)


def all_activations(tm, km, x):
    """Every ported layer's output in both frameworks, channels last."""
    outs = {}
    leaves = [(n, m) for n, m in tm.named_modules() if n and not list(m.children())]
    hooks = [m.register_forward_hook(lambda m, a, o, n=n: outs.__setitem__(n, o.detach().clone()))
             for n, m in leaves]
    targs = [torch.from_numpy(np.ascontiguousarray(a)).to(next(tm.parameters()).dtype)
             for a in to_model(tm.stviz_layout, x, np)]
    with torch.no_grad():
        tm(*targs)
    for h in hooks:
        h.remove()
    names = [layer.name for layer in km.layers if layer.name in outs]
    sub = keras.Model(km.inputs, [km.get_layer(n).output for n in names])
    kouts = sub(list(to_model(km.stviz_layout, x, np)))
    pairs = {}
    for n, ko in zip(names, kouts, strict=True):
        t = outs[n].numpy()
        if t.ndim > 2:
            t = np.moveaxis(t, 1, -1)
        pairs[n] = (t, np.asarray(ko))
    return pairs


def inputs_for(model, rng, n=2):
    return {k: rng.uniform(-80, 80, (n, *s)) for k, s in model.stviz_inputs.items()}


@pytest.mark.parametrize("family", ["two_stream", "c3d"])
@pytest.mark.parametrize("dtype, tol", [("float64", 1e-10), ("float32", 1e-5)])
def test_ported_twins_agree_at_every_named_layer(family, dtype, tol):
    make_t, make_k, kw = ((MT.two_stream_vgg16, MK.two_stream_vgg16, TWO_STREAM) if family == "two_stream"
                          else (MT.c3d, MK.c3d, C3D))
    tm = make_t(seed=0, **kw).to(getattr(torch, dtype)).eval()
    km = torch_to_keras(tm, make_k(dtype=dtype, seed=5, **kw))
    pairs = all_activations(tm, km, inputs_for(tm, np.random.default_rng(0)))
    assert {"conv5_fusion", "fc6", "fc8"} <= set(pairs) or {"conv5b", "fc6", "fc8"} <= set(pairs)
    for name, (t, k) in pairs.items():
        assert t.shape == k.shape, name
        rel = np.abs(t - k).max() / max(np.abs(t).max(), 1e-30)
        assert rel <= tol, f"{name}: rel diff {rel:.2e}"


@pytest.mark.parametrize("family", ["two_stream", "c3d"])
def test_porting_back_recovers_the_torch_weights(family):
    make_t, make_k, kw = ((MT.two_stream_vgg16, MK.two_stream_vgg16, TWO_STREAM) if family == "two_stream"
                          else (MT.c3d, MK.c3d, C3D))
    original = make_t(seed=0, **kw).double()
    km = torch_to_keras(original, make_k(dtype="float64", seed=1, **kw))
    fresh = keras_to_torch(km, make_t(seed=9, **kw).double())
    for name in ported_layers(original):
        a, b = dict(original.named_modules())[name], dict(fresh.named_modules())[name]
        assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias), name


def test_porting_errors_name_the_layers():
    tm = MT.two_stream_vgg16(**TWO_STREAM)
    with pytest.raises(ValueError, match="the Keras model has no layers named"):
        torch_to_keras(tm, MK.c3d(**C3D))
    with pytest.raises(ValueError, match="do not match the ported"):
        torch_to_keras(tm, MK.two_stream_vgg16(**{**TWO_STREAM, "width": 1 / 8}))


@pytest.fixture(scope="module")
def twins64():
    kw = dict(num_classes=10, width=1 / 16, input_size=64, flow_frames=10, fc_width=32)
    tm = MT.two_stream_vgg16(seed=0, **kw).double()
    return tm, torch_to_keras(tm, MK.two_stream_vgg16(dtype="float64", **kw))


def test_float64_visualizations_agree_to_1e_6_of_the_bound(twins64):
    tm, km = twins64
    out = stviz_adapters.compare(tm, km, "conv5_fusion", channels=[0, 5], steps=50, seed=[0, 1],
                                 preset="paper")
    assert out.torch.config["jitter"] == out.keras.config["jitter"]
    assert out.torch.config["jitter"]["stride"] == 16 and out.torch.config["preset"]["name"] == "paper"
    assert (out.comparison.max_abs_diff["all"] <= 1e-6 * B).all()
    assert max(v.max() for v in out.comparison.trace_max_abs_diff.values()) < 1e-8


def test_the_default_preset_agrees_across_frameworks_in_float64(twins64):
    tm, km = twins64
    out = stviz_adapters.compare(tm, km, "conv5_fusion", channels=[0, 5], steps=20, seed=[0, 1])
    assert out.torch.config["preset"]["name"] == sv.presets.DEFAULT
    assert (out.comparison.max_abs_diff["all"] <= 1e-6 * B).all()


def test_float32_visualizations_agree_over_200_steps():
    kw = dict(num_classes=10, width=1 / 16, input_size=64, flow_frames=10, fc_width=32)
    tm = MT.two_stream_vgg16(seed=0, **kw)
    km = torch_to_keras(tm, MK.two_stream_vgg16(**kw))
    out = stviz_adapters.compare(tm, km, "conv5_fusion", channels=[0, 5], steps=200, seed=[0, 1],
                                 preset="paper", objective_scale="paper")  # eq. 1 literal, as pinned
    c = out.comparison
    assert (c.correlation["all"] >= 0.999).all()
    # float32 roundings differ between CPUs (oneDNN picks kernels by instruction set): this
    # pair measured 1.4e-4 and 2.4e-3 on one 2-core machine, below 1e-3 on another
    assert (c.final_rel_diff["objective"] <= 5e-3).all()
    assert "PyTorch vs Keras" in str(out)
