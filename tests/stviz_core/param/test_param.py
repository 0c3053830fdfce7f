"""Parameterizations: exact vector-Jacobian products, invertibility, the fixed spectrum of maco, bad input."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stviz_core import param
from stviz_core.param import fourier, maco, pixel
from stviz_core.param._spectral import Basis, amplitude, bin_weights, colour_matrix

from tests.conftest import asarray, host

shapes = st.tuples(st.integers(1, 4), st.integers(1, 5), st.integers(1, 6), st.sampled_from([1, 2, 3]))
roles = st.sampled_from(["appearance", "motion"])


def _fields(shape, role, xp, bound=1.0):
    """One field of every parameterization (maco's rms high enough that the projection clips)."""
    made = [param.Pixel(), param.Fourier(alpha=1.3), param.Maco(alpha=1.0, rms=0.9)]
    return [(p.name, p.bind(shape, role, bound=bound, xp=xp, dtype=xp.float64)) for p in made]


def _params(field, n, seed):
    rngs = [np.random.default_rng([seed, i]) for i in range(n)]
    return field.init(rngs, scale=0.8)


@given(shapes, roles, st.integers(0, 2**16))
def test_vjp_matches_finite_differences(xp, shape, role, seed):
    """<vjp(p, g), d> is the directional derivative of <to_input(p), g> along d (float64)."""
    rng = np.random.default_rng(seed)
    for name, field in _fields(shape, role, xp):
        p = _params(field, 2, seed)
        g = asarray(xp, rng.standard_normal((2, *shape)))
        d = asarray(xp, rng.standard_normal(tuple(p.shape)))
        eps = 1e-6

        def f(q):
            return float(xp.sum(field.to_input(q) * g))

        numeric = (f(p + eps * d) - f(p - eps * d)) / (2 * eps)
        exact = float(xp.sum(field.vjp(p, g) * d))
        assert exact == pytest.approx(numeric, rel=1e-6, abs=1e-6 * (1 + abs(numeric))), name


@given(shapes, roles, st.integers(0, 2**16))
def test_spectral_map_adjoint_is_exact(xp, shape, role, seed):
    """<B z, g> = <z, B^T g> for complex half spectra z that are not Hermitian on the k_x planes."""
    rng = np.random.default_rng(seed)
    basis = Basis(shape, amplitude(shape, 1.0), colour_matrix(shape[-1], role), xp=xp, dtype=xp.float64)
    t, h, w, c = shape
    re, im = (asarray(xp, rng.standard_normal((2, t, h, w // 2 + 1, c))) for _ in range(2))
    g = asarray(xp, rng.standard_normal((2, *shape)))
    lhs = float(xp.sum(basis.to_input(basis.as_complex(re, im)) * g))
    adj = basis.adjoint(g)
    rhs = float(xp.sum(re * xp.real(adj) + im * xp.imag(adj)))
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


@given(shapes, roles, st.integers(0, 2**16))
def test_fourier_is_invertible(xp, shape, role, seed):
    x = np.random.default_rng(seed).standard_normal((2, *shape))
    back = fourier.to_input(fourier.from_input(asarray(xp, x), role=role), shape=shape, role=role)
    np.testing.assert_allclose(host(back), x, atol=1e-12)


def test_the_three_namespaces_agree(xp):
    shape = (3, 4, 6, 3)
    for name, field in _fields(shape, "appearance", xp, bound=160.0):
        ref = dict(_fields(shape, "appearance", np, bound=160.0))[name]
        p = _params(field, 2, 7)
        np.testing.assert_allclose(host(field.to_input(p)), ref.to_input(_params(ref, 2, 7)),
                                   rtol=1e-12, atol=1e-10)


def test_pixel_is_the_identity_and_draws_the_papers_noise():
    rng = np.random.default_rng(3)
    x = pixel.init((2, 3, 4, 3), rng, bound=160.0)
    from stviz_core.initialization import uniform_noise

    np.testing.assert_array_equal(x, uniform_noise((2, 3, 4, 3), bound=160.0, rng=np.random.default_rng(3)))
    assert pixel.to_input(x) is x and pixel.to_input_vjp(x, x) is x and pixel.from_input(x) is x


def test_fourier_init_matches_the_pixel_noise_rms():
    shape, bound = (4, 8, 8, 3), 160.0
    x = fourier.to_input(fourier.init(shape, np.random.default_rng(0), bound=bound, scale=0.5)[None],
                         shape=shape)
    assert np.sqrt(np.mean(np.sum(x**2, axis=-1))) == pytest.approx(0.5 * bound / np.sqrt(3))


def test_amplitude_is_one_over_f_with_unit_mean_square():
    shape = (4, 8, 10, 3)
    s = amplitude(shape, 1.0)
    assert np.sum(bin_weights(10) * s**2) / (4 * 8 * 10) == pytest.approx(1.0)
    # k = (0, 2, 0) has f = 1/4, k = (0, 1, 0) f = 1/8: twice the amplitude
    assert s[0, 1, 0] / s[0, 2, 0] == pytest.approx(2.0)
    assert s[0, 0, 0] == s[0, 0, 1]  # the zero frequency is floored at the lowest, 1/10
    assert np.all(amplitude(shape, 0.0) == 1.0)


def test_colour_matrix():
    m = colour_matrix(3, "appearance")
    assert np.linalg.norm(m, axis=0).max() == pytest.approx(1.0)
    assert np.linalg.cond(m) < 10
    assert np.all(m[:, 0] > 0)  # the first column is luminance
    np.testing.assert_array_equal(colour_matrix(2, "motion"), np.eye(2))
    np.testing.assert_array_equal(colour_matrix(3, "appearance", decorrelate=False), np.eye(3))


def test_maco_keeps_the_natural_amplitude_and_the_bound():
    """Phases only: off the k_x = 0 and W/2 planes every coefficient has the fixed amplitude."""
    shape, bound = (4, 8, 8, 3), 160.0
    field = param.Maco().bind(shape, "appearance", bound=bound, xp=np, dtype=np.float64)
    p = _params(field, 3, 1)
    x = field.to_input(p)
    assert np.linalg.norm(x, axis=-1).max() <= bound
    m = colour_matrix(3, "appearance")
    spectrum = np.fft.rfftn(x @ np.linalg.inv(m).T, axes=(1, 2, 3), norm="ortho")
    gain = 0.35 * bound / np.linalg.norm(m)
    np.testing.assert_allclose(np.abs(spectrum[:, :, :, 1:4]),
                               np.broadcast_to(gain * amplitude(shape, 1.0)[None, :, :, 1:4, None],
                                               spectrum[:, :, :, 1:4].shape), rtol=1e-10)


def test_fourier_constrain_projects_and_maps_back():
    shape = (2, 6, 6, 2)
    field = param.Fourier().bind(shape, "motion", bound=1.0, xp=np, dtype=np.float64)
    p = _params(field, 2, 0) * 10
    q, x = field.constrain(p)
    assert np.linalg.norm(x, axis=-1).max() <= 1.0 + 1e-12
    assert np.linalg.norm(field.to_input(p), axis=-1).max() > 1.5
    np.testing.assert_allclose(field.to_input(q), x, atol=1e-12)


def test_names_and_round_trip():
    assert param.names() == ("pixel", "fourier", "maco")
    for p in (param.Pixel(), param.Fourier(alpha=0.5, decorrelate=False), param.Maco(rms=0.2)):
        assert param.from_dict(p.to_dict()) == p
        assert param.resolve(p.to_dict()) == p and param.resolve(p.name) == type(p)()
    assert param.Pixel().moment == param.Maco().moment == "pixel" and param.Fourier().moment == "item"


@pytest.mark.parametrize("make, error, message", [
    (lambda: param.get("wavelet"), ValueError,
     "unknown parameterization 'wavelet'; valid choices: 'pixel', 'fourier', 'maco'"),
    (lambda: param.Fourier(alpha=-1), ValueError, r"alpha must be in \[0, 4\]"),
    (lambda: param.Maco(alpha=4.5), ValueError, r"alpha must be in \[0, 4\]"),
    (lambda: param.Fourier(alpha=float("nan")), ValueError, "alpha must be finite"),
    (lambda: param.Maco(rms=0.0), ValueError, r"rms must be in \(0, 1\]"),
    (lambda: param.Maco(rms=1.5), ValueError, r"rms must be in \(0, 1\]"),
    (lambda: param.resolve(3), TypeError, "a parameterization is one of 'pixel'"),
])
def test_bad_input_names_the_domain(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_module_functions_agree_with_the_fields():
    shape, rng = (3, 4, 5, 3), np.random.default_rng(4)
    g = rng.standard_normal((2, *shape))
    f = param.Fourier(alpha=0.7).bind(shape, "appearance", bound=160.0, xp=np, dtype=np.float64)
    p = _params(f, 2, 0)
    np.testing.assert_array_equal(fourier.to_input(p, shape=shape, alpha=0.7), f.to_input(p))
    np.testing.assert_array_equal(fourier.to_input_vjp(p, g, shape=shape, alpha=0.7), f.vjp(p, g))
    m = param.Maco(rms=0.5).bind(shape, "motion" if shape[-1] == 2 else "appearance", bound=2.0,
                                 xp=np, dtype=np.float64)
    q = np.stack([maco.init(shape, rng) for _ in range(2)])
    np.testing.assert_array_equal(maco.to_input(q, shape=shape, bound=2.0, rms=0.5), m.to_input(q))
    np.testing.assert_array_equal(maco.to_input_vjp(q, g, shape=shape, bound=2.0, rms=0.5),
                                  m.vjp(q, g))
