"""A planted unit: a space-time Gabor filter of known frequency and velocity, maximized under every preset.

The unit is one linear filter over the whole clip (8 x 16 x 16 RGB): a drifting
grating of spatial frequency (f_y, f_x) = (1/16, 2/16) cycles per pixel moving
one pixel per frame to the right (f_t = -f_x), under a Gaussian window. The
input it gets must have its 3D spectrum peak within one frequency bin of that
tuning, and more energy moving right than left.

The spectrum is taken within the unit's window (the clip times the filter's
Gaussian envelope): the part of the clip the unit sees. For ``maco`` that is
the only place to look: its amplitude spectrum over the whole clip is fixed by
construction, and even in time (equal energy in both directions of motion),
so what the unit prefers shows in the phases, i.e. locally.
"""

import numpy as np
import pytest

import stviz_core as sv
from stviz_core import presets
from stviz_core.testing import LinearBackend

T, H, W = 8, 16, 16
TUNING = (-1, 1, 2)  # (k_t, k_y, k_x) in bins: f_t = -1/8, f_y = 1/16, f_x = 2/16


def _grid():
    return np.meshgrid(np.arange(T) - (T - 1) / 2, np.arange(H) - (H - 1) / 2,
                       np.arange(W) - (W - 1) / 2, indexing="ij")


def envelope(sigma_s=4.0, sigma_t=3.0):
    t, y, x = _grid()
    return np.exp(-(x**2 + y**2) / (2 * sigma_s**2) - t**2 / (2 * sigma_t**2))


def gabor():
    """The filter, ``(T, H, W, 3)``: the grating on luminance, under the envelope."""
    t, y, x = _grid()
    kt, ky, kx = TUNING
    carrier = np.cos(2 * np.pi * (kt * t / T + ky * y / H + kx * x / W))
    return np.repeat((envelope() * carrier)[..., None], 3, axis=-1) / np.sqrt(3)


class GaborUnit(LinearBackend):
    """One output channel: ``<x, gabor>`` over the whole clip."""

    def __init__(self, xp=np):
        super().__init__({"clip": np.zeros((T, H, W, 3, 1))}, {"clip": ((T, H, W, 3), "appearance")},
                         xp=xp)
        self.filter = xp.asarray(gabor(), dtype=self.dtype)

    def activations(self, inputs, *, for_vjp=True):
        x = inputs["clip"]
        return self.xp.reshape(self.xp.sum(x * self.filter, axis=(1, 2, 3, 4)), (x.shape[0], 1))

    def vjp(self, cotangent):
        return {"clip": self.xp.reshape(cotangent, (-1, 1, 1, 1, 1)) * self.filter}

    def receptive_field(self):
        return H, 2


def local_spectrum(clip):
    """``|FFT|`` over (t, y, x) of the clip's luminance inside the unit's window, zero frequency removed."""
    spectrum = np.abs(np.fft.fftn(clip.sum(axis=-1) * envelope()))
    spectrum[0, 0, 0] = 0.0
    return spectrum


def peak_bin(spectrum):
    """The strongest ``(k_t, k_y, k_x)``, signed, of the pair ``k, -k`` the one with ``k_x > 0``."""
    k = [(i + n // 2) % n - n // 2 for i, n in zip(np.unravel_index(np.argmax(spectrum), spectrum.shape),
                                                    spectrum.shape)]
    return tuple(-i for i in k) if (k[2], k[1]) < (0, 0) else tuple(k)


def rightward_share(spectrum):
    """Energy moving right (f_t f_x < 0) over the energy moving either way."""
    sign = np.fft.fftfreq(T)[:, None, None] * np.fft.fftfreq(W)[None, None, :]
    right, left = (np.sum(spectrum**2 * m) for m in (sign < 0, sign > 0))
    return right / (right + left)


def test_the_measures_read_the_filter_itself():
    spectrum = local_spectrum(gabor())
    assert peak_bin(spectrum) == TUNING and rightward_share(spectrum) > 0.99
    assert peak_bin(local_spectrum(gabor()[::-1])) == (1, 1, 2)  # played backwards: moving left


@pytest.mark.parametrize("name", presets.names())
def test_a_planted_gabor_unit_gets_its_frequency_and_velocity(name):
    result = sv.ascend(GaborUnit(), sv.channel(0, normalize=False), preset=presets.get(name),
                       steps=150, seed=[0, 1])
    for clip in result.inputs["clip"]:
        spectrum = local_spectrum(clip)
        assert max(abs(a - b) for a, b in zip(peak_bin(spectrum), TUNING)) <= 1, name
        assert rightward_share(spectrum) > 0.55, name
        response = np.sum(clip * gabor())
        assert response > max(0.0, np.sum(clip[::-1] * gabor())), name  # backwards: less
