"""Objectives: values, closed-form cotangents and their algebra."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from stviz_core.objectives import Context, channel, class_logit, neuron, per_item

from tests.conftest import asarray, host

act_shapes = st.sampled_from([(2, 5), (3, 4, 4, 6), (2, 2, 3, 5, 4), (1, 1, 1, 3)])


def acts_st():
    return act_shapes.flatmap(
        lambda s: arrays(np.float64, s, elements=st.floats(-100, 100, width=64))
    )


def primitive(k, spatial_rank, draw):
    c = draw(st.integers(0, k - 1))
    kind = draw(st.sampled_from(["channel", "neuron", "raw_channel"]))
    if kind == "channel":
        return channel(c)
    if kind == "raw_channel":
        return channel(c, normalize=False)
    return neuron(c)


def assert_cotangent_is_gradient(xp, obj, a, ctx, seed=0):
    """The objective is linear in A, so value(A + V) - value(A) == <cotangent, V> exactly."""
    v = np.random.default_rng(seed).standard_normal(a.shape)
    base = host(obj.value(asarray(xp, a), ctx))
    moved = host(obj.value(asarray(xp, a + v), ctx))
    cot = host(obj.cotangent(asarray(xp, a), ctx))
    assert cot.shape == a.shape
    np.testing.assert_allclose(moved - base, (cot * v).reshape(a.shape[0], -1).sum(1),
                               rtol=1e-9, atol=1e-9)


@given(st.data(), acts_st(), st.floats(1, 50))
def test_cotangents_are_the_gradients_of_composed_objectives(xp, data, a, rho):
    k = a.shape[-1]
    terms = [primitive(k, a.ndim - 2, data.draw) for _ in range(data.draw(st.integers(1, 3)))]
    coefs = data.draw(st.lists(st.floats(-3, 3), min_size=len(terms), max_size=len(terms)))
    obj = sum(c * t for c, t in zip(coefs, terms))
    a_hat = data.draw(st.lists(st.floats(0.1, 10), min_size=k, max_size=k))
    assert_cotangent_is_gradient(xp, obj, a, Context(rho=rho, a_hat=a_hat))


def test_channel_value_is_eq1(xp):
    a = np.random.default_rng(0).standard_normal((2, 3, 4, 4, 5))
    ctx = Context(rho=7.0, a_hat=[1, 2, 3, 4, 5])
    got = host(channel(3).value(asarray(xp, a), ctx))
    np.testing.assert_allclose(got, a[..., 3].reshape(2, -1).sum(1) / (7.0**2 * 4), rtol=1e-13)
    raw = host(channel(3, normalize=False).value(asarray(xp, a), ctx))
    np.testing.assert_allclose(raw, a[..., 3].reshape(2, -1).sum(1), rtol=1e-13)


def test_neuron_defaults_to_the_centre(xp):
    a = np.random.default_rng(1).standard_normal((2, 5, 4, 3))
    got = host(neuron(1, normalize=False).value(asarray(xp, a)))
    np.testing.assert_array_equal(got, a[:, 2, 2, 1])
    at = host(neuron(2, (0, 3), normalize=False).value(asarray(xp, a)))
    np.testing.assert_array_equal(at, a[:, 0, 3, 2])
    cot = host(neuron(1, normalize=False).cotangent(asarray(xp, a)))
    assert cot.sum() == 2 and np.all(cot[:, 2, 2, 1] == 1)


def test_class_logit(xp):
    a = np.random.default_rng(2).standard_normal((3, 10))
    np.testing.assert_array_equal(host(class_logit(7).value(asarray(xp, a))), a[:, 7])
    assert_cotangent_is_gradient(xp, class_logit(7), a, Context())


def test_class_logit_by_name_resolves_against_the_labels(xp):
    from stviz_core.objectives import resolve_classes

    labels = ["abseiling", "juggling balls", "playing cricket", "yoga"]
    a = np.random.default_rng(4).standard_normal((2, 4))
    named = class_logit("playing cricket")
    assert named.describe() == "class_logit('playing cricket')"
    with pytest.raises(ValueError, match="names a class: resolve it"):
        named.value(asarray(xp, a))
    combo = resolve_classes([named, 2 * class_logit("yoga") - class_logit(0)], labels)
    np.testing.assert_array_equal(host(combo[0].value(asarray(xp, a))), a[:, 2])
    np.testing.assert_allclose(host(combo[1].value(asarray(xp, a))), 2 * a[:, 3] - a[:, 0])
    assert combo[0].describe().startswith("class_logit('playing cricket'")
    with pytest.raises(ValueError, match="no class 'juggling bals'; closest names: juggling balls"):
        resolve_classes(class_logit("juggling bals"), labels)
    with pytest.raises(ValueError, match="the model has no class names"):
        resolve_classes(class_logit("yoga"), None)
    assert resolve_classes(class_logit(3), None).describe() == class_logit(3).describe()


def test_algebra(xp):
    a = asarray(xp, np.random.default_rng(3).standard_normal((2, 3, 3, 4)))
    ch, ne = channel(1, normalize=False), neuron(2, normalize=False)
    combo = 0.5 * ch - ne
    np.testing.assert_allclose(
        host(combo.value(a)), 0.5 * host(ch.value(a)) - host(ne.value(a)), rtol=1e-14
    )
    np.testing.assert_allclose(host((-ch).value(a)), -host(ch.value(a)))
    np.testing.assert_allclose(host((ch / 4).value(a)), host(ch.value(a)) / 4)
    np.testing.assert_allclose(host(sum([ch, ne]).value(a)), host((ch + ne).value(a)))
    assert combo.describe() == "0.5 * channel(1, normalize=False) - neuron(2, normalize=False)"
    assert (-ch).describe() == "-channel(1, normalize=False)"


def test_per_item_applies_one_objective_per_visualization(xp):
    a = np.random.default_rng(4).standard_normal((3, 2, 2, 4))
    obj = per_item([channel(0, normalize=False), channel(3, normalize=False), neuron(1, normalize=False)])
    got = host(obj.value(asarray(xp, a)))
    np.testing.assert_allclose(got, [a[0, ..., 0].sum(), a[1, ..., 3].sum(), a[2, 1, 1, 1]])
    assert_cotangent_is_gradient(xp, obj, a, Context())
    with pytest.raises(ValueError, match="3 objectives for a batch of 2"):
        obj.value(asarray(xp, a[:2]))


def test_bad_objectives(xp):
    a = asarray(xp, np.zeros((1, 4, 4, 8)))
    with pytest.raises(ValueError, match=r"channel 8 is out of range: the layer has 8 channels \(0..7\)"):
        channel(8).value(a)
    with pytest.raises(ValueError, match=r"location \(4, 0\) does not fit the layer's spatial shape \(4, 4\)"):
        neuron(0, (4, 0)).value(a)
    with pytest.raises(TypeError, match="channel must be an integer"):
        channel(1.5)
    with pytest.raises(ValueError, match="channel must be >= 0"):
        channel(-1)
    with pytest.raises(ValueError, match="a_hat\\[2\\] must be > 0"):
        channel(2).value(a, Context(a_hat=[1.0, 1.0, 0.0] + [1.0] * 5))
    with pytest.raises(TypeError):
        channel(0) * "2"


def test_a_hat_must_cover_the_channel(xp):
    a = asarray(xp, np.zeros((1, 2, 2, 4)))
    with pytest.raises(ValueError, match="a_hat has 2 entries, so channel 3 has no maximum"):
        channel(3).value(a, Context(a_hat=[1.0, 2.0]))


def test_objective_is_abstract():
    with pytest.raises(TypeError, match="abstract"):
        from stviz_core.objectives import Objective

        Objective()


def test_the_tree_walks_its_nodes_and_leaves_in_order():
    ch, ne, cl = channel(1), neuron(2), class_logit(3)
    combo = 0.5 * ch - ne
    batch = per_item([combo, cl])
    assert combo.children() == (ch, ne) and ch.children() == ()
    assert list(batch.leaves()) == [ch, ne, cl]
    assert [o.describe() for o in batch.walk()] == [batch.describe(), combo.describe(),
                                                    ch.describe(), ne.describe(), cl.describe()]
    assert [o.unit_channel for o in batch.leaves()] == [1, 2, 3]
    assert batch.per_visualization(2) == [combo, cl] and ch.per_visualization(2) == [ch, ch]


def test_rebuild_and_map_leaves_keep_weights_and_identity(xp):
    a = asarray(xp, np.random.default_rng(5).standard_normal((2, 3, 3, 4)))
    combo = 0.5 * channel(1, normalize=False) - neuron(2, normalize=False)
    assert combo.map_leaves(lambda leaf: leaf) is combo  # unchanged: the same object
    swapped = combo.map_leaves(
        lambda leaf: channel(3, normalize=False) if leaf.unit_channel == 1 else leaf)
    expected = 0.5 * channel(3, normalize=False) - neuron(2, normalize=False)
    np.testing.assert_allclose(host(swapped.value(a)), host(expected.value(a)), rtol=1e-14)
    assert swapped.describe() == expected.describe()
    rebuilt = per_item([channel(0), channel(1)]).rebuild([channel(2), channel(3)])
    assert rebuilt.describe() == "[channel(2), channel(3)]"


def test_partition_splits_by_leaf_and_the_parts_add_up(xp):
    from stviz_core.objective_tree import split_scale_free

    a = asarray(xp, np.random.default_rng(6).standard_normal((2, 3, 3, 4)))
    ch, ne = channel(1, normalize=False), neuron(2, normalize=False)
    batch = per_item([0.5 * ch - ne, 2 * ne])
    rest, part = batch.partition(lambda leaf: leaf.unit_channel == 2)
    assert rest.describe() == "[0.5 * channel(1, normalize=False), 0]"
    assert part.describe() == "[-neuron(2, normalize=False), 2 * neuron(2, normalize=False)]"
    np.testing.assert_allclose(host(rest.value(a)) + host(part.value(a)), host(batch.value(a)),
                               rtol=1e-14)
    assert batch.partition(lambda leaf: False) == (batch, None)
    assert split_scale_free(batch) == (batch, None)  # units only: nothing scale-free
