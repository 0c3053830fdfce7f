"""Regularizer math (eq. 2 and 3): values, exact gradients and properties, on every namespace."""

import itertools

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from stviz_core import regularizers as R

from tests.conftest import asarray, host
from tests.strategies import alphas, volumes, weights


def reference_tv(x, kappa, gamma):
    """Eq. 3 written out with explicit loops over every forward difference."""
    n, t, h, w, c = x.shape
    out = np.zeros(n)
    for b, k, i, j, d in itertools.product(range(n), range(t), range(h), range(w), range(c)):
        if j + 1 < w:
            out[b] += kappa * (x[b, k, i, j + 1, d] - x[b, k, i, j, d]) ** 2
        if i + 1 < h:
            out[b] += kappa * (x[b, k, i + 1, j, d] - x[b, k, i, j, d]) ** 2
        if k + 1 < t:
            out[b] += gamma * (x[b, k + 1, i, j, d] - x[b, k, i, j, d]) ** 2
    return out


def reference_norm(x, alpha):
    n, t, h, w, _ = x.shape
    out = np.zeros(n)
    for b, k, i, j in itertools.product(range(n), range(t), range(h), range(w)):
        out[b] += np.sqrt(np.sum(x[b, k, i, j] ** 2)) ** alpha
    return out


def directional_fd(f, x, v, h):
    """Central difference of the per-item values of ``f`` along ``v``."""
    return (f(x + h * v) - f(x - h * v)) / (2 * h)


def assert_gradient(xp, f, grad, x, seed=0):
    """Check <grad f, v> against a central difference along three random directions."""
    rng = np.random.default_rng(seed)
    xa = asarray(xp, x)
    g = host(grad(xa))
    assert g.shape == x.shape
    scale = max(1.0, float(np.abs(x).max()))
    for _ in range(3):
        v = rng.standard_normal(x.shape)
        h = 1e-5 * scale
        fd = directional_fd(lambda y: host(f(asarray(xp, y))), x, v, h)
        exact = np.sum((g * v).reshape(x.shape[0], -1), axis=1)
        np.testing.assert_allclose(exact, fd, rtol=1e-6, atol=1e-6 * (1 + np.abs(exact).max()))


# -- values against the plain formula ------------------------------------------


@given(volumes(), weights, weights)
def test_total_variation_matches_reference_loops(xp, x, kappa, gamma):
    got = host(R.total_variation(asarray(xp, x), kappa=kappa, gamma=gamma))
    assert got.shape == (x.shape[0],)
    np.testing.assert_allclose(got, reference_tv(x, kappa, gamma), rtol=1e-12, atol=1e-9)


@given(volumes(), alphas)
def test_norm_bound_matches_reference_loops(xp, x, alpha):
    got = host(R.norm_bound(asarray(xp, x), alpha=alpha))
    assert got.shape == (x.shape[0],)
    np.testing.assert_allclose(got, reference_norm(x, alpha), rtol=1e-11, atol=1e-9)


# -- gradients against finite differences (float64) ----------------------------


@given(volumes(), weights, weights)
def test_total_variation_grad_matches_finite_differences(xp, x, kappa, gamma):
    assert_gradient(
        xp,
        lambda y: R.total_variation(y, kappa=kappa, gamma=gamma),
        lambda y: R.total_variation_grad(y, kappa=kappa, gamma=gamma),
        x,
    )


@given(volumes(), alphas)
def test_norm_bound_grad_matches_finite_differences(xp, x, alpha):
    if alpha < 2:  # |x|^alpha has a kink at a zero pixel vector
        assume(np.sqrt((x**2).sum(axis=-1)).min() > 0.5)
    assert_gradient(
        xp, lambda y: R.norm_bound(y, alpha=alpha), lambda y: R.norm_bound_grad(y, alpha=alpha), x
    )


@pytest.mark.parametrize("alpha", [1.0, 1.5, 2.0, 3.0, 6.0])
def test_norm_bound_grad_is_finite_and_zero_at_zero_pixels(xp, alpha):
    x = np.zeros((2, 2, 3, 3, 3))
    x[0, 0, 0, 0] = [1.0, -2.0, 0.5]
    g = host(R.norm_bound_grad(asarray(xp, x), alpha=alpha))
    assert np.isfinite(g).all()
    assert np.all(g[1] == 0) and np.all(g[0, 1] == 0)
    np.testing.assert_allclose(g[0, 0, 0, 0], alpha * np.linalg.norm(x[0, 0, 0, 0]) ** (alpha - 2) * x[0, 0, 0, 0])


def test_total_variation_grad_every_coordinate(xp):
    """Full finite-difference Jacobian on one small volume, coordinate by coordinate."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 2, 4, 2))
    g = host(R.total_variation_grad(asarray(xp, x), kappa=0.7, gamma=2.5))
    h = 1e-6
    for idx in itertools.product(*map(range, x.shape)):
        e = np.zeros_like(x)
        e[idx] = h
        fd = (reference_tv(x + e, 0.7, 2.5) - reference_tv(x - e, 0.7, 2.5)) / (2 * h)
        assert fd[idx[0]] == pytest.approx(g[idx], rel=1e-6, abs=1e-7)


# -- properties of R_TV ---------------------------------------------------------


@given(st.data(), weights, weights)
def test_total_variation_of_a_constant_volume_is_zero(xp, data, kappa, gamma):
    x = data.draw(volumes())
    const = np.broadcast_to(x[:, :1, :1, :1, :], x.shape).copy()
    assert np.all(host(R.total_variation(asarray(xp, const), kappa=kappa, gamma=gamma)) == 0)


@given(volumes(), weights, weights, st.floats(-5, 5))
def test_total_variation_is_quadratic_in_scale(xp, x, kappa, gamma, c):
    a = host(R.total_variation(asarray(xp, c * x), kappa=kappa, gamma=gamma))
    b = host(R.total_variation(asarray(xp, x), kappa=kappa, gamma=gamma))
    np.testing.assert_allclose(a, c**2 * b, rtol=1e-10, atol=1e-9)


@given(volumes(), weights, weights, st.floats(-100, 100))
def test_total_variation_ignores_an_added_constant(xp, x, kappa, gamma, c):
    a = host(R.total_variation(asarray(xp, x + c), kappa=kappa, gamma=gamma))
    b = host(R.total_variation(asarray(xp, x), kappa=kappa, gamma=gamma))
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-7)


@given(volumes(), weights)
def test_gamma_zero_ignores_temporal_change(xp, x, kappa):
    # replace each frame's content by an unrelated frame: only the temporal differences change
    shuffled = x[:, ::-1] + np.arange(x.shape[1])[None, :, None, None, None] * 3.0
    spatial_only = lambda y: host(R.total_variation(asarray(xp, y), kappa=kappa, gamma=0.0))
    per_frame = lambda y: sum(reference_tv(y[:, t : t + 1], kappa, 0.0) for t in range(y.shape[1]))
    np.testing.assert_allclose(spatial_only(x), per_frame(x), rtol=1e-10, atol=1e-9)
    np.testing.assert_allclose(spatial_only(shuffled), spatial_only(x[:, ::-1]), rtol=1e-10, atol=1e-9)


@given(volumes(), weights)
def test_kappa_zero_ignores_spatial_change(xp, x, gamma):
    # adding a fixed spatial pattern to every frame changes no temporal difference
    pattern = np.random.default_rng(0).standard_normal((1, 1) + x.shape[2:]) * 5
    a = host(R.total_variation(asarray(xp, x + pattern), kappa=0.0, gamma=gamma))
    b = host(R.total_variation(asarray(xp, x), kappa=0.0, gamma=gamma))
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-7)


@given(volumes(), weights, weights)
def test_total_variation_is_additive_over_its_parts(xp, x, kappa, gamma):
    xa = asarray(xp, x)
    both = host(R.total_variation(xa, kappa=kappa, gamma=gamma))
    parts = host(R.total_variation(xa, kappa=kappa, gamma=0.0)) + host(
        R.total_variation(xa, kappa=0.0, gamma=gamma)
    )
    np.testing.assert_allclose(both, parts, rtol=1e-12, atol=1e-9)
    gboth = host(R.total_variation_grad(xa, kappa=kappa, gamma=gamma))
    gparts = host(R.total_variation_grad(xa, kappa=kappa, gamma=0.0)) + host(
        R.total_variation_grad(xa, kappa=0.0, gamma=gamma)
    )
    np.testing.assert_allclose(gboth, gparts, rtol=1e-12, atol=1e-9)


def test_total_variation_does_not_wrap_around(xp):
    x = np.zeros((1, 1, 1, 4, 1))
    x[0, 0, 0, :, 0] = [0.0, 1.0, 2.0, 3.0]  # a ramp: wrap-around would add (3 - 0)^2
    assert host(R.total_variation(asarray(xp, x), kappa=1.0, gamma=1.0))[0] == 3.0


# -- properties of N_B and of the projection --------------------------------------


@given(volumes(), alphas, st.floats(-5, 5))
def test_norm_bound_is_homogeneous(xp, x, alpha, c):
    a = host(R.norm_bound(asarray(xp, c * x), alpha=alpha))
    b = host(R.norm_bound(asarray(xp, x), alpha=alpha))
    np.testing.assert_allclose(a, abs(c) ** alpha * b, rtol=1e-9, atol=1e-9)


@given(volumes(), alphas, st.randoms(use_true_random=False))
def test_norm_bound_is_invariant_to_permuting_pixels(xp, x, alpha, random):
    n, t, h, w, c = x.shape
    order = list(range(t * h * w))
    random.shuffle(order)
    permuted = x.reshape(n, t * h * w, c)[:, order].reshape(x.shape)
    a = host(R.norm_bound(asarray(xp, permuted), alpha=alpha))
    b = host(R.norm_bound(asarray(xp, x), alpha=alpha))
    np.testing.assert_allclose(a, b, rtol=1e-12)


bounds = st.floats(0.1, 20.0)


@given(volumes(), bounds)
def test_projection_is_idempotent(xp, x, bound):
    once = R.project_to_bound(asarray(xp, x), bound=bound)
    twice = R.project_to_bound(once, bound=bound)
    np.testing.assert_allclose(host(twice), host(once), rtol=1e-12, atol=1e-12)


@given(volumes(), bounds)
def test_projection_never_increases_a_norm_and_respects_the_bound(xp, x, bound):
    p = host(R.project_to_bound(asarray(xp, x), bound=bound))
    before, after = np.linalg.norm(x, axis=-1), np.linalg.norm(p, axis=-1)
    assert np.all(after <= before * (1 + 1e-12))
    assert np.all(after <= bound * (1 + 1e-12))


@given(volumes(), bounds)
def test_projection_leaves_in_bound_pixels_unchanged_and_keeps_directions(xp, x, bound):
    p = host(R.project_to_bound(asarray(xp, x), bound=bound))
    norms = np.linalg.norm(x, axis=-1)
    inside = norms <= bound
    assert np.array_equal(p[inside], x[inside])
    outside = ~inside
    np.testing.assert_allclose(np.linalg.norm(p[outside], axis=-1), bound, rtol=1e-12)
    np.testing.assert_allclose(
        p[outside] / bound, x[outside] / norms[outside][:, None], rtol=1e-9, atol=1e-12
    )


def test_edge_shapes(xp):
    """T = 1, H = 1 or W = 1: the missing differences contribute nothing."""
    for shape in [(2, 1, 3, 3, 2), (1, 3, 1, 4, 2), (3, 2, 4, 1, 1), (1, 1, 1, 1, 3)]:
        x = np.random.default_rng(1).standard_normal(shape)
        got = host(R.total_variation(asarray(xp, x), kappa=1.5, gamma=2.0))
        np.testing.assert_allclose(got, reference_tv(x, 1.5, 2.0), rtol=1e-12)
        assert_gradient(
            xp,
            lambda y: R.total_variation(y, kappa=1.5, gamma=2.0),
            lambda y: R.total_variation_grad(y, kappa=1.5, gamma=2.0),
            x,
        )


@given(volumes(), alphas, weights, weights)
def test_fused_value_and_gradient_equal_the_separate_functions(xp, x, alpha, kappa, gamma):
    xa = asarray(xp, x)
    v, g = R.norm_bound_value_grad_unchecked(xa, alpha, xp)
    np.testing.assert_allclose(host(v), host(R.norm_bound(xa, alpha=alpha)), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(host(g), host(R.norm_bound_grad(xa, alpha=alpha)), rtol=1e-12, atol=1e-12)
    v, g = R.total_variation_value_grad_unchecked(xa, kappa, gamma, xp)
    np.testing.assert_allclose(host(v), host(R.total_variation(xa, kappa=kappa, gamma=gamma)), rtol=1e-12)
    np.testing.assert_allclose(host(g), host(R.total_variation_grad(xa, kappa=kappa, gamma=gamma)),
                               rtol=1e-12, atol=1e-12)


lams = st.one_of(st.just(0.0), st.floats(1e-3, 10.0))


@given(volumes(), alphas, lams, lams, weights, weights)
def test_the_weighted_penalties_equal_the_weighted_separate_functions(xp, x, alpha, lam_n, lam_tv,
                                                                      kappa, gamma):
    """One gradient array for both terms (a term of weight 0 skipped): the same numbers."""
    xa = asarray(xp, x)
    (norm, tv), grad = R.penalties_value_grad_unchecked(xa, lam_n, lam_tv, alpha, kappa, gamma, xp)
    nb, nb_grad = (host(a) for a in R.norm_bound_value_grad_unchecked(xa, alpha, xp))
    rtv, tv_grad = (host(a) for a in R.total_variation_value_grad_unchecked(xa, kappa, gamma, xp))
    np.testing.assert_allclose(host(norm), lam_n * nb, rtol=1e-12, atol=0)
    np.testing.assert_allclose(host(tv), lam_tv * rtv, rtol=1e-12, atol=0)
    expected = lam_n * nb_grad + lam_tv * tv_grad
    assert grad.shape == xa.shape
    np.testing.assert_allclose(host(grad), expected, rtol=1e-12,
                               atol=1e-12 * (1 + np.abs(expected).max()))


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 5, 7])
@pytest.mark.parametrize("factor", [None, 0.5])
def test_scale_pixels_is_the_broadcast_product_and_leaves_its_input(xp, channels, factor):
    rng = np.random.default_rng(channels)
    x, per_pixel = rng.standard_normal((2, 3, 4, 5, channels)), rng.standard_normal((2, 3, 4, 5))
    xa = asarray(xp, x)
    got = host(R.scale_pixels(xa, asarray(xp, per_pixel), xp, factor=factor))
    expected = x * per_pixel[..., None] * (1.0 if factor is None else factor)
    np.testing.assert_allclose(got, expected, rtol=1e-15, atol=0)
    np.testing.assert_array_equal(host(xa), x)


def test_no_penalty_writes_into_its_inputs(xp):
    """The kernels work in place only on arrays they made: x and the anchor stay as they were."""
    rng = np.random.default_rng(3)
    x, x0 = 50 * rng.standard_normal((2, 3, 5, 4, 3)), 50 * rng.standard_normal((1, 3, 5, 4, 3))
    xa, x0a = asarray(xp, x), asarray(xp, x0)
    R.penalties_value_grad_unchecked(xa, 0.1, 0.2, 3.0, 1.0, 1.0, xp)
    R.norm_bound_value_grad_unchecked(xa, 1.5, xp)
    R.total_variation_value_grad_unchecked(xa, 1.0, 2.0, xp)
    R.project_to_bound_unchecked(xa, 60.0, xp)
    R.anchor_value_grad(xa, x0a, 160.0, xp, weight=2.0)
    np.testing.assert_array_equal(host(xa), x)
    np.testing.assert_array_equal(host(x0a), x0)


def test_a_strided_numpy_view_gets_the_contiguous_arrays_numbers():
    """numpy's contiguous arrays take a flat path through eq. 3; a strided view the slices."""
    big = np.random.default_rng(4).standard_normal((3, 4, 7, 6, 5))
    view = big[::2, :, 1:, ::-1, :3]
    dense = np.ascontiguousarray(view)
    assert not view.flags.c_contiguous and dense.flags.c_contiguous
    a = R.penalties_value_grad_unchecked(view, 0.3, 0.7, 3.0, 1.5, 2.0, np)
    b = R.penalties_value_grad_unchecked(dense, 0.3, 0.7, 3.0, 1.5, 2.0, np)
    np.testing.assert_allclose(a[0], b[0], rtol=1e-13)
    np.testing.assert_allclose(a[1], b[1], rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(R.total_variation(view, kappa=1.5, gamma=2.0),
                               reference_tv(view, 1.5, 2.0), rtol=1e-12)
