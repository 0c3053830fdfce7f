"""Adam against the textbook formula, the pixel-shared variant, and the schedules."""


import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from stviz_core.optim import Constant, Exponential, Piecewise, adam, apply_updates, schedule_from_dict

from tests.conftest import asarray, host

grads_st = arrays(np.float64, (2, 1, 3, 2, 3), elements=st.floats(-50, 50, width=64))


def textbook_adam(grads, lr, b1=0.9, b2=0.999, eps=1e-8):
    """Kingma & Ba, Algorithm 1, one array, written out plainly."""
    m = np.zeros_like(grads[0])
    v = np.zeros_like(grads[0])
    steps = []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        m_hat = m / (1 - b1**t)
        v_hat = v / (1 - b2**t)
        steps.append(-lr * m_hat / (np.sqrt(v_hat) + eps))
    return steps


@given(st.lists(grads_st, min_size=1, max_size=4), st.floats(1e-3, 10.0))
def test_coordinate_adam_matches_textbook(xp, grads, lr):
    opt = adam(learning_rate=lr, moment="coordinate")
    state = opt.init({"x": asarray(xp, np.zeros_like(grads[0]))})
    for step, (g, expected) in enumerate(zip(grads, textbook_adam(grads, lr))):
        updates, state = opt.update({"x": asarray(xp, g)}, state, step)
        np.testing.assert_allclose(host(updates["x"]), expected, rtol=1e-12, atol=1e-300)
    assert state.count == len(grads)


@given(st.lists(grads_st, min_size=1, max_size=4), st.floats(1e-3, 10.0))
def test_pixel_adam_shares_the_second_moment_over_channels(xp, grads, lr):
    b1, b2, eps = 0.9, 0.999, 1e-8
    opt = adam(learning_rate=lr)
    state = opt.init({"x": asarray(xp, np.zeros_like(grads[0]))})
    m = np.zeros_like(grads[0])
    v = np.zeros(grads[0].shape[:-1] + (1,))
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * np.mean(g * g, axis=-1, keepdims=True)
        expected = -lr * (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps)
        updates, state = opt.update({"x": asarray(xp, g)}, state, t - 1)
        np.testing.assert_allclose(host(updates["x"]), expected, rtol=1e-12, atol=1e-300)


def test_pixel_adam_step_is_parallel_to_the_gradient(xp):
    g = np.array([0.3, -1.0, 0.5]).reshape(1, 1, 1, 1, 3)
    opt = adam(learning_rate=1.0)
    upd, _ = opt.update({"x": asarray(xp, g)}, opt.init({"x": asarray(xp, 0 * g)}), 0)
    u = host(upd["x"]).ravel()
    np.testing.assert_allclose(u / np.linalg.norm(u), -g.ravel() / np.linalg.norm(g), rtol=1e-7)


def test_the_variants_agree_with_one_channel(xp):
    g = np.random.default_rng(0).standard_normal((2, 2, 2, 2, 1))
    a, b = adam(learning_rate=0.5), adam(learning_rate=0.5, moment="coordinate")
    ua, _ = a.update({"x": asarray(xp, g)}, a.init({"x": asarray(xp, g * 0)}), 0)
    ub, _ = b.update({"x": asarray(xp, g)}, b.init({"x": asarray(xp, g * 0)}), 0)
    np.testing.assert_allclose(host(ua["x"]), host(ub["x"]), rtol=1e-15)


@given(st.lists(grads_st, min_size=1, max_size=4), st.floats(1e-3, 10.0))
def test_item_moment_is_adam_with_one_second_moment_per_visualization(xp, grads, lr):
    """The textbook recursion with v the mean of g^2 over everything but the batch axis:
    each step keeps the direction of the momentum over the whole array."""
    opt = adam(learning_rate=lr, moment="item")
    state = opt.init({"x": asarray(xp, np.zeros_like(grads[0]))})
    m = v = 0.0
    for step, g in enumerate(grads):
        m = 0.9 * m + 0.1 * g
        v = 0.999 * v + 0.001 * np.mean(g * g, axis=(1, 2, 3, 4), keepdims=True)
        expected = -lr * (m / (1 - 0.9 ** (step + 1))) / (np.sqrt(v / (1 - 0.999 ** (step + 1))) + 1e-8)
        updates, state = opt.update({"x": asarray(xp, g)}, state, step)
        np.testing.assert_allclose(host(updates["x"]), expected, rtol=1e-10, atol=1e-300)
    assert tuple(state.nu["x"].shape) == (2, 1, 1, 1, 1)


def test_state_is_functional(xp):
    """update never mutates the state it was given: replaying it gives the same step."""
    g = asarray(xp, np.ones((1, 1, 2, 2, 2)))
    opt = adam(learning_rate=0.1)
    state = opt.init({"x": g * 0})
    first, s1 = opt.update({"x": g}, state, 0)
    again, _ = opt.update({"x": g}, state, 0)
    assert state.count == 0 and s1.count == 1
    np.testing.assert_array_equal(host(first["x"]), host(again["x"]))
    params = apply_updates({"x": g}, first)
    np.testing.assert_allclose(host(params["x"]), host(g) + host(first["x"]))


def test_learning_rate_callable_gets_the_step(xp):
    seen = []
    opt = adam(learning_rate=lambda k: seen.append(k) or 1.0)
    state = opt.init({"x": asarray(xp, np.zeros((1, 1, 1, 1, 2)))})
    for k in range(3):
        _, state = opt.update({"x": asarray(xp, np.ones((1, 1, 1, 1, 2)))}, state, k)
    assert seen == [0, 1, 2]


@pytest.mark.parametrize("kwargs, message", [
    ({"moment": "diagonal"}, "valid choices: 'pixel', 'coordinate'"),
    ({"b1": 1.0}, "b1 must be in"),
    ({"eps": 0.0}, "eps must be > 0"),
])
def test_bad_adam_settings(kwargs, message):
    with pytest.raises(ValueError, match=message):
        adam(**kwargs)


@given(st.floats(1e-3, 100), st.floats(1e-3, 1.0), st.integers(2, 500))
def test_exponential_schedule_decreases_from_start_to_end(start, fraction, steps):
    sched = Exponential(start, start * fraction)
    rates = [sched(k, steps) for k in range(steps)]
    assert rates[0] == pytest.approx(start) and rates[-1] == pytest.approx(start * fraction)
    assert all(a >= b * (1 - 1e-12) for a, b in zip(rates, rates[1:]))


def test_piecewise_and_constant_schedules():
    sched = Piecewise(values=(8.0, 0.8), boundaries=(1 / 3,))
    rates = [sched(k, 300) for k in range(300)]
    assert rates[:100] == [8.0] * 100 and rates[100:] == [0.8] * 200
    assert Constant(2.0)(17, 20) == 2.0
    for s in (sched, Constant(2.0), Exponential(4.0, 0.5)):
        assert schedule_from_dict(s.to_dict()) == s


@pytest.mark.parametrize("make, message", [
    (lambda: Exponential(1.0, 2.0), "decreasing schedule"),
    (lambda: Constant(-1.0), "learning rate must be > 0"),
    (lambda: Piecewise((1.0,), (0.5,)), "len\\(values\\)"),
    (lambda: schedule_from_dict({"kind": "cosine"}), "valid choices"),
])
def test_bad_schedules(make, message):
    with pytest.raises(ValueError, match=message):
        make()
