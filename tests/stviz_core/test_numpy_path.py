"""The kernel's numpy fast paths (issue 27: the Keras backend runs the kernel in numpy) give the
array-API results, and float32 stays float32."""

import numpy as np
import pytest

from stviz_core.regularizers import channel_dot
from stviz_core.param._spectral import Basis, amplitude, bin_weights, colour_matrix
from stviz_core.resample import _read


@pytest.mark.parametrize("channels", [1, 2, 3, 4, 6])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_channel_dot_is_the_channel_sum_in_the_working_dtype(channels, dtype):
    rng = np.random.default_rng(channels)
    a = rng.standard_normal((2, 3, 4, 5, channels)).astype(dtype)
    b = rng.standard_normal((2, 3, 4, 5, channels)).astype(dtype)
    got = channel_dot(a, b, np)
    assert got.dtype == dtype and got.shape == a.shape[:-1]
    want = np.sum(a.astype(np.float64) * b, axis=-1)
    assert np.allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-12, atol=1e-6)


def test_read_adds_each_neighbour_like_the_weighted_sum_over_them():
    rng = np.random.default_rng(1)
    n, per_item, p, k, width = 2, 30, 7, 4, 5
    rows = rng.standard_normal((n * per_item, width)).astype(np.float32)
    index = rng.integers(0, per_item, (n, p, k))
    weight = rng.random((n, p, k)).astype(np.float32)
    got = _read(rows, index, weight, per_item, np)
    want = np.stack([sum(weight[i, :, j, None] * rows[i * per_item + index[i, :, j]]
                         for j in range(k)) for i in range(n)])
    assert got.dtype == np.float32 and np.allclose(got, want, rtol=1e-6, atol=1e-6)


def _reference_basis(basis, shape):
    """The module notes' formulas with the channels last, as written before issue 27."""
    axes = (1, 2, 3)

    def hermitian(z):
        mirror = np.roll(np.flip(z, axis=(1, 2)), shift=(1, 1), axis=(1, 2))
        planes = bin_weights(shape[2]) == 1.0  # k_x = 0 and W/2
        return np.where(planes[:, None], (z + np.conj(mirror)) / 2, z)

    def to_input(z):
        raw = np.fft.irfftn(hermitian(basis.scale * z), s=shape[:3], axes=axes, norm="ortho")
        return raw @ basis.colour_t

    def adjoint(g):
        return basis.scale * basis.weights * np.fft.rfftn(g @ basis.colour, axes=axes, norm="ortho")

    def from_input(x):
        return np.fft.rfftn(x @ basis.inverse.T, axes=axes, norm="ortho") / basis.scale

    return to_input, adjoint, from_input


@pytest.mark.parametrize("shape", [(4, 6, 8, 3), (3, 5, 7, 2), (1, 4, 5, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_spectral_basis_with_channels_first_ffts_equals_the_channels_last_formulas(shape, dtype):
    role = "appearance" if shape[-1] == 3 else "motion"
    basis = Basis(shape, amplitude(shape, 1.0), colour_matrix(shape[-1], role), xp=np, dtype=dtype)
    to_input, adjoint, from_input = _reference_basis(basis, shape)
    rng = np.random.default_rng(len(shape) + shape[0])
    t, h, w, c = shape
    z = basis.as_complex(*rng.standard_normal((2, 2, t, h, w // 2 + 1, c)).astype(dtype))
    x = rng.standard_normal((2, *shape)).astype(dtype)
    complex_dtype = np.complex64 if dtype == np.float32 else np.complex128
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    got = basis.to_input(z)
    assert got.dtype == dtype and np.allclose(got, to_input(z), **tol)
    got = basis.adjoint(x)
    assert got.dtype == complex_dtype and np.allclose(got, adjoint(x), **tol)
    got = basis.from_input(x)
    assert got.dtype == complex_dtype and np.allclose(got, from_input(x), **tol)


@pytest.mark.parametrize("preset", ["maco", "fourier"])
def test_a_spectral_step_makes_its_input_with_one_inverse_fft(preset, monkeypatch):
    import stviz_core as sv
    from stviz_core.testing import LinearBackend

    calls = {"to_input": 0}
    make = Basis.to_first  # every inverse FFT (to_input's too)

    def counted(self, z):
        calls["to_input"] += 1
        return make(self, z)

    monkeypatch.setattr(Basis, "to_first", counted)
    backend = LinearBackend({"clip": np.ones((1, 1, 1, 3, 2))}, {"clip": ((4, 8, 8, 3), "appearance")},
                            xp=np, dtype=np.float32)
    made = []
    for steps in (2, 5):
        calls["to_input"] = 0
        sv.ascend(backend, sv.channel(0), preset=preset, steps=steps, seed=0)
        made.append(calls["to_input"])
    assert made[1] - made[0] == 3  # one per step: the VJP reads the constraint's (maco: no second FFT)


def test_fourier_keeps_its_parameters_where_nothing_is_projected():
    """Issue 27: on the host, the constraint's round trip to the spectrum runs only where the
    projection moved a pixel; either way the parameters stand for the input it returns."""
    from stviz_core import param

    field = param.Fourier().bind((4, 8, 8, 3), "appearance", bound=1.0, xp=np, dtype=np.float64)
    for scale, kept in ((0.05, True), (5.0, False)):
        params = field.init([np.random.default_rng(3)], scale=scale)
        new, x = field.constrain(params)
        assert (new is params) == kept
        assert np.linalg.norm(x, axis=-1).max() <= 1.0 + 1e-12
        np.testing.assert_allclose(field.to_input(new), x, rtol=1e-10, atol=1e-12)
