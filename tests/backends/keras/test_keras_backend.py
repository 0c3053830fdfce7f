"""The Keras backend: sub-model early exit, exact VJPs, the model left untouched, errors."""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

import stviz_core as sv  # noqa: E402
from stviz_adapters.zoo import vgg_c3d_keras as MK  # noqa: E402
from stviz_core.layouts import Clip3D, Image2D  # noqa: E402
from stviz_backends.keras.receptive_field import receptive_fields  # noqa: E402
from stviz_backends.keras import KerasBackend, accepts  # noqa: E402

L = keras.layers


def small_two_stream(dtype="float32"):
    return MK.two_stream_vgg16(num_classes=5, width=1 / 16, input_size=48, flow_frames=4,
                               fc_width=16, dtype=dtype, seed=0)


def weights_of(model):
    return [w.numpy().copy() for w in model.weights], [w.trainable for w in model.weights]


def assert_unchanged(model, before):
    values, flags = weights_of(model)
    assert len(values) == len(before[0])
    assert all(np.array_equal(a, b) for a, b in zip(values, before[0], strict=True))
    assert flags == before[1]


def test_accepts_only_keras_models():
    assert accepts(small_two_stream()) and not accepts(np.zeros(2)) and not accepts("x")
    assert sv.select_plugin(small_two_stream()).name == "keras"


def test_vjp_matches_finite_differences_in_float64():
    with KerasBackend(small_two_stream("float64"), "conv5_fusion") as be:
        assert be.dtype == np.float64 and be.activation_shape == (1, 1, 3, 3, 32)
        rng = np.random.default_rng(0)
        x = {k: rng.uniform(-50, 50, (2, *s.shape)) for k, s in be.inputs.items()}
        obj = sv.channel(3, normalize=False)
        grads = be.vjp(obj.cotangent(be.activations(x)))
        assert grads["flow"].shape == (2, 4, 48, 48, 2)
        d = {k: rng.standard_normal(v.shape) for k, v in x.items()}
        h = 1e-6
        plus = obj.value(be.activations({k: x[k] + h * d[k] for k in x}))
        minus = obj.value(be.activations({k: x[k] - h * d[k] for k in x}))
        exact = sum((grads[k] * d[k]).reshape(2, -1).sum(1) for k in x)
        np.testing.assert_allclose((plus - minus) / (2 * h), exact, rtol=1e-6, atol=1e-9)


def test_the_cached_vjp_is_only_used_for_the_same_cotangent():
    with KerasBackend(small_two_stream("float64"), "conv5_fusion") as be:
        x = {k: np.random.default_rng(1).uniform(-50, 50, (1, *s.shape)) for k, s in be.inputs.items()}
        a = be.activations(x)
        g0 = be.vjp(sv.channel(0).cotangent(a))
        be.activations(x)
        g1 = be.vjp(sv.channel(1).cotangent(a))  # a different cotangent: recomputed
        be.activations(x)
        g1_again = be.vjp(sv.channel(1).cotangent(a))  # the same one: from the fused call
    assert not np.allclose(g0["rgb"], g1["rgb"])
    np.testing.assert_array_equal(g1["rgb"], g1_again["rgb"])


class Counter(L.Layer):
    calls = 0

    def call(self, x):
        Counter.calls += 1
        return x


def test_layers_above_the_target_are_not_run():
    x = keras.Input((16, 16, 3), name="rgb")
    h = L.Conv2D(4, 3, name="low")(x)
    y = L.Conv2D(4, 3, name="high")(Counter(name="count")(h))
    model = keras.Model(x, y)
    Counter.calls = 0
    sv.visualize(model, "low", channels=[0], layout=Image2D(channels_first=False),
                 inputs={"rgb": (1, 16, 16, 3)}, steps=3, backend_options={"compiled": False}, preset="paper")
    assert Counter.calls == 0


def test_the_model_is_left_unchanged_on_success_and_on_error():
    model = small_two_stream()
    model.get_layer("fc8").trainable = False
    before = weights_of(model)
    sv.visualize(model, "conv5_fusion", channels=[1, 2], steps=3, seed=0, preset="paper")
    assert_unchanged(model, before)
    with pytest.raises(ValueError, match=r"channel 40 is out of range: the layer has 32 channels"):
        sv.visualize(model, "conv5_fusion", channels=[40], steps=3, preset="paper")
    assert_unchanged(model, before)


class SubclassedNet(keras.Model):
    def __init__(self):
        super().__init__(name="subclassed", dtype="float64")
        self.conv1 = L.Conv3D(4, 3, padding="same", name="conv1", dtype="float64")
        self.act = L.ReLU(name="act", dtype="float64")
        self.conv2 = L.Conv3D(3, 3, padding="same", name="conv2", dtype="float64")
        self.head = L.Dense(2, name="head", dtype="float64")

    def call(self, clip):
        return self.head(keras.ops.mean(self.conv2(self.act(self.conv1(clip))), axis=(1, 2, 3)))


def test_subclassed_models_run_eagerly_and_agree_with_their_functional_twin():
    sub = SubclassedNet()
    sub(np.zeros((1, 4, 8, 8, 3)))
    clip = keras.Input((4, 8, 8, 3), name="clip", dtype="float64")
    y = sub.conv2(sub.act(sub.conv1(clip)))  # the same layers (shared weights) as a graph
    functional = keras.Model(clip, y)
    opts = dict(channels=[0, 2], layout=Clip3D(channels_first=False), inputs={"clip": (4, 8, 8, 3)},
                steps=10, seed=0, rho=5, stride=1, preset="paper")
    a = sv.visualize(sub, "conv2", **opts)
    b = sv.visualize(functional, "conv2", **opts)
    assert (sv.compare(a, b).max_abs_diff["all"] < 1e-10).all()


def test_receptive_fields_from_the_keras_graph_match_the_torch_twin():
    fields = receptive_fields(MK.two_stream_vgg16(width=1 / 32, input_size=64), 64)
    assert fields["rgb.conv5_3"] == (196, 16) and fields["conv5_fusion"] == (228, 16)
    assert fields["pool5_fusion"] == (244, 32) and fields["fc8"] == (64, 32)
    c3d = receptive_fields(MK.c3d(width=1 / 32, input_size=32), 32)
    assert c3d["conv5b"] == (134, 16) and c3d["pool5"] == (150, 32)
    trunk = receptive_fields(MK.vgg16_trunk(width=1 / 32), 224)
    assert trunk["conv4_3"] == (92, 8) and trunk["pool5"] == (212, 32)


def test_bad_input_gets_clear_errors(monkeypatch):
    model = small_two_stream()
    with pytest.raises(ValueError, match=r"no layer 'conv5_fuse'; closest names: conv5_fusion"):
        sv.visualize(model, "conv5_fuse", channels=[0], preset="paper")
    with pytest.raises(ValueError, match=r"cannot take inputs rgb \(N, 48, 48, 3\), flow \(N, 48, 48, 6\)"):
        sv.visualize(model, "conv5_fusion", channels=[0],
                     inputs={"rgb": (1, 48, 48, 3), "flow": (3, 48, 48, 2)}, preset="paper")
    with pytest.raises(ValueError, match="take channels-last inputs"):
        sv.visualize(model, "conv5_fusion", channels=[0], layout=Clip3D(), preset="paper")
    unbuilt = keras.Sequential([L.Dense(3, name="d")])
    with pytest.raises(ValueError, match="not built"):
        sv.visualize(unbuilt, "d", channels=[0], layout=Image2D(channels_first=False),
                     inputs={"rgb": (1, 4, 4, 3)}, preset="paper")

    class TwoOut(L.Layer):
        def call(self, x):
            return [x, 2 * x]

    x = keras.Input((8, 8, 3), name="rgb")
    a, b = TwoOut(name="split")(x)
    two = keras.Model(x, L.Add(name="sum")([a, b]))
    with pytest.raises(ValueError, match="layer 'split' has 2 outputs"):
        sv.visualize(two, "split", channels=[0], layout=Image2D(channels_first=False),
                     inputs={"rgb": (1, 8, 8, 3)}, preset="paper")
    monkeypatch.setattr(keras.backend, "backend", lambda: "jax")
    with pytest.raises(ValueError, match="supports Keras 3 on TensorFlow; this Keras runs on 'jax'"):
        sv.visualize(model, "conv5_fusion", channels=[0], preset="paper")


def test_repeated_runs_on_a_model_reuse_its_compiled_step():
    from stviz_backends.keras import backend as kb

    model = small_two_stream()
    sv.visualize(model, "conv5_fusion", channels=[0], steps=2, preset="paper")
    (first,) = kb._COMPILED[model].values()  # keyed by layer, compilation and input shapes
    sv.visualize(model, "conv5_fusion", channels=[1], steps=2, preset="paper")
    assert list(kb._COMPILED[model].values()) == [first]


def test_a_new_batch_size_after_a_vjp_is_handled():
    with KerasBackend(small_two_stream("float64"), "conv5_fusion") as be:
        rng = np.random.default_rng(2)
        x2 = {k: rng.uniform(-50, 50, (2, *s.shape)) for k, s in be.inputs.items()}
        be.vjp(sv.channel(0).cotangent(be.activations(x2)))
        x3 = {k: rng.uniform(-50, 50, (3, *s.shape)) for k, s in be.inputs.items()}
        a3 = be.activations(x3)
        g3 = be.vjp(sv.channel(0).cotangent(a3))
    assert a3.shape[0] == 3 and g3["rgb"].shape[0] == 3


def test_seeded_keras_twins_are_reproducible_and_towers_differ():
    from stviz_adapters.zoo import vgg_c3d_keras as models_keras

    a = models_keras.two_stream_vgg16(width=1 / 16, input_size=32, seed=3)
    b = models_keras.two_stream_vgg16(width=1 / 16, input_size=32, seed=3)
    w = lambda m, n: m.get_layer(n).get_weights()[0]  # noqa: E731
    assert np.array_equal(w(a, "rgb.conv3_1"), w(b, "rgb.conv3_1"))
    assert not np.array_equal(w(a, "rgb.conv3_2"), w(a, "rgb.conv3_3"))  # same shape, own draw
