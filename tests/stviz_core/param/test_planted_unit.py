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

import dataclasses

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
    preset = presets.get(name)
    result = sv.ascend(GaborUnit(), sv.channel(0, normalize=False), preset=preset,
                       steps=150, seed=[0, 1])
    for clip in result.inputs["clip"]:
        spectrum = local_spectrum(clip)
        assert max(abs(a - b) for a, b in zip(peak_bin(spectrum), TUNING)) <= 1, name
        assert rightward_share(spectrum) > 0.55, name
        if preset.transforms is None or preset.transforms.crop is None:
            # the grating's phase at the unit's one position: random crops of a canvas (the
            # default 'canvas') move it, so there the energy unit below is the fair test
            response = np.sum(clip * gabor())
            assert response > max(0.0, np.sum(clip[::-1] * gabor())), name  # backwards: less


# -- issue 24: the output stage, and the canvas with its crops -----------------------------------

#: the options that switch on contrast by construction and the space-time canvas with crops
SHAPED = dict(canvas=(3, 1.25), squash=True, standardize=True)


class GaborEnergyUnit(LinearBackend):
    """Motion energy: the mean over positions of the squared circular correlation with the Gabor.

    Unlike :class:`GaborUnit` it does not care where the grating is (in space or time), as a
    convolutional network's units do not: the unit a canvas's random crops are made for.
    """

    def __init__(self):
        super().__init__({"clip": np.zeros((T, H, W, 3, 1))}, {"clip": ((T, H, W, 3), "appearance")},
                         xp=np)
        self.spectrum = np.fft.fftn(gabor()[..., 0] * np.sqrt(3))  # the luminance filter

    def activations(self, inputs, *, for_vjp=True):
        luminance = inputs["clip"].sum(axis=-1) / np.sqrt(3)
        self.response = np.real(np.fft.ifftn(np.fft.fftn(luminance, axes=(1, 2, 3))
                                             * np.conj(self.spectrum), axes=(1, 2, 3)))
        return np.mean(self.response**2, axis=(1, 2, 3))[:, None]

    def vjp(self, cotangent):
        g = 2 * self.response * np.reshape(cotangent, (-1, 1, 1, 1)) / (T * H * W)
        back = np.real(np.fft.ifftn(np.fft.fftn(g, axes=(1, 2, 3)) * self.spectrum, axes=(1, 2, 3)))
        return {"clip": np.repeat(back[..., None], 3, axis=-1) / np.sqrt(3)}

    def receptive_field(self):
        return H, 2


def _recovered(clip, spectrum, name, share=0.55):
    assert max(abs(a - b) for a, b in zip(peak_bin(spectrum), TUNING)) <= 1, name
    assert rightward_share(spectrum) > share, name


@pytest.mark.parametrize("name", ["robust", "fourier", "maco"])
def test_the_gabor_unit_under_the_output_stage(name):
    """Squash and z-score (no canvas): frequency and velocity as before, contrast fixed."""
    preset = presets.get(name, squash=True, standardize=True)
    result = sv.ascend(GaborUnit(), sv.channel(0, normalize=False), preset=preset, steps=150,
                       seed=[0, 1])
    for clip in result.inputs["clip"]:
        _recovered(clip, local_spectrum(clip), name)
        assert np.sum(clip * gabor()) > max(0.0, np.sum(clip[::-1] * gabor())), name
        assert np.sqrt(np.mean(np.sum(clip**2, axis=-1))) > 0.3 * 160, name  # the set contrast


def test_the_gabor_unit_on_a_canvas_seen_at_its_centre():
    """A canvas without crops: the network sees its centre, the unit is found as before."""
    preset = presets.fourier(**SHAPED)
    preset = preset.replace(transforms=dataclasses.replace(preset.transforms, crop=None))
    result = sv.ascend(GaborUnit(), sv.channel(0, normalize=False), preset=preset, steps=150,
                       seed=[0, 1])
    for clip in result.inputs["clip"]:
        _recovered(clip, local_spectrum(clip), "fourier canvas")


@pytest.mark.parametrize("name", ["robust", "fourier", "maco", presets.DEFAULT])
def test_a_gabor_energy_unit_through_the_canvas_and_its_crops(name):
    """Random space-time crops of a canvas 3 x longer and 1.25 x wider, squashed and z-scored
    (and the default preset, which is that): the returned clip's whole spectrum peaks at the
    tuning, moving right."""
    preset = presets.get(name) if name == presets.DEFAULT else presets.get(name, **SHAPED)
    result = sv.ascend(GaborEnergyUnit(), sv.channel(0, normalize=False),
                       preset=preset, steps=150, seed=[0, 1])
    for clip in result.inputs["clip"]:
        spectrum = np.abs(np.fft.fftn(clip.sum(axis=-1)))
        spectrum[0, 0, 0] = 0.0
        _recovered(clip, spectrum, name, share=0.6)
