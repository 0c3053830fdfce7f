"""Keras BN folding folds only what is safe and says what it left (#18 item 1)."""

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
keras = pytest.importorskip("keras")
pytest.importorskip("tensorflow")

import stviz_core as sv  # noqa: E402
from stviz_backends.keras.bn_folding import (  # noqa: E402
    fold_batch_norm_keras, fold_pairs_keras, unfolded_keras)
from stviz_core.layouts import Image2D  # noqa: E402

L = keras.layers


def randomize(bns, seed=0):
    rng = np.random.default_rng(seed)
    for bn in bns:
        n = bn.get_weights()[0].shape[0]
        bn.set_weights([rng.normal(size=n), rng.normal(size=n), rng.normal(size=n),
                        rng.uniform(0.5, 2.0, size=n)])


def reused_conv_model():
    """One Conv2D called twice, each call before its own BN; then a foldable pair."""
    inp = keras.Input((8, 8, 3))
    conv = L.Conv2D(4, 3, padding="same", name="conv")
    bn_a, bn_b = L.BatchNormalization(name="bn_a"), L.BatchNormalization(name="bn_b")
    conv2, bn2 = L.Conv2D(4, 1, name="conv2"), L.BatchNormalization(name="bn2")
    y = L.Add(name="add")([bn_a(conv(inp)), bn_b(conv(inp))])
    model = keras.Model(inp, bn2(conv2(y)))
    randomize([bn_a, bn_b, bn2])
    return model


def test_a_conv_called_twice_before_two_bns_is_left_unfolded_with_the_same_outputs():
    model = reused_conv_model()
    with pytest.warns(UserWarning, match=r"left unfolded.*bn_a \(conv is called 2 times\)"):
        assert fold_pairs_keras(model) == [("conv2", "bn2")]
    assert [bn for bn, _ in unfolded_keras(model)] == ["bn_a", "bn_b"]
    x = np.random.default_rng(1).normal(size=(2, 8, 8, 3)).astype("float32")
    folded = fold_batch_norm_keras(model)
    np.testing.assert_allclose(np.asarray(folded(x, training=False)),
                               np.asarray(model(x, training=False)), rtol=1e-4, atol=1e-4)


def test_a_conv_output_that_is_also_a_model_output_or_called_again_is_not_folded():
    inp = keras.Input((6, 6, 3))
    conv, bn = L.Conv2D(3, 1, name="c"), L.BatchNormalization(name="b")
    c = conv(inp)
    returned = keras.Model(inp, [bn(c), c])
    randomize([bn])
    inp2 = keras.Input((6, 6, 3))
    conv2, bn2 = L.Conv2D(3, 1, name="c2"), L.BatchNormalization(name="b2")
    again = keras.Model(inp2, [bn2(conv2(inp2)), conv2(inp2)])
    randomize([bn2])
    x = np.random.default_rng(2).normal(size=(1, 6, 6, 3)).astype("float32")
    for model, why in ((returned, "also a model output"), (again, "c2 is called 2 times")):
        with pytest.warns(UserWarning, match=why):
            assert fold_pairs_keras(model) == []
        folded = fold_batch_norm_keras(model)
        for a, b in zip(folded(x, training=False), model(x, training=False), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-5)


def test_the_backend_visualizes_the_same_with_and_without_folding():
    model = reused_conv_model()
    common = dict(inputs={"rgb": (1, 8, 8, 3)}, layout=Image2D(channels_first=False), steps=3,
                  seed=0, objective_scale="paper", preset="paper")
    with pytest.warns(UserWarning, match="left unfolded"):
        folded = sv.visualize(model, "bn2", channels=[0, 1],
                              backend_options={"fold_batch_norm": True}, **common)
    plain = sv.visualize(model, "bn2", channels=[0, 1], **common)
    assert folded.config["backend_details"]["folded_batch_norm"] == [["conv2", "bn2"]]
    np.testing.assert_allclose(folded.final["objective"], plain.final["objective"], rtol=1e-3)
