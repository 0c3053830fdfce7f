"""The linear map shared by the spectral parameterizations: half spectrum -> clip, and its adjoint.

A clip ``x`` of shape ``(N, T, H, W, C)`` is made from a complex half spectrum
``Z`` of shape ``(N, T, H, W // 2 + 1, C)`` (a real FFT over ``(t, y, x)``,
unitary: ``norm="ortho"``) scaled per frequency and mixed across channels::

    x = irfftn(hermitian(scale * Z)) @ colour.T

``hermitian`` makes the planes ``k_x = 0`` and ``k_x = W/2`` (for even W)
Hermitian-symmetric in ``(k_t, k_y)``. A real FFT stores those planes in full,
so an arbitrary ``Z`` over-specifies them; projecting first makes ``x`` the
same in every array library (libraries differ in what they do with the
redundant half) and the map exactly linear with a known adjoint::

    adjoint(g) = scale * weights * rfftn(g @ colour)

with ``weights`` 1 on those planes and 2 elsewhere (each other bin stands for
the pair ``k, -k`` of the full spectrum).
"""

from __future__ import annotations

import numpy as np

from .._xp import from_numpy

__all__ = ["AXES", "LUCID_COLOUR_SQRT", "frequencies", "amplitude", "colour_matrix",
           "half_width", "Basis", "channels_first", "channels_last"]

AXES = (1, 2, 3)  # t, y, x of (N, T, H, W, C)

#: Square root (by SVD) of the colour covariance of ImageNet RGB, rows R, G, B
#: (Lucid, ``lucid/optvis/param/color.py``): its first column is luminance,
#: the other two the opponent colour axes.
LUCID_COLOUR_SQRT = np.array([[0.26, 0.09, 0.02],
                              [0.27, 0.00, -0.05],
                              [0.27, -0.09, 0.03]])


def half_width(width: int) -> int:
    """Bins of a real FFT over an axis of ``width`` samples."""
    return width // 2 + 1


def frequencies(shape) -> np.ndarray:
    """Radial frequency ``sqrt(f_t^2 + f_y^2 + f_x^2)`` of each half-spectrum bin, ``(T, H, W//2+1)``.

    Each axis in its own unit: cycles per frame for ``f_t``, cycles per pixel
    for ``f_y`` and ``f_x``; one frame counts as one pixel, so a pattern
    moving one pixel per frame lies on the diagonal ``|f_t| = |f_x|``.
    """
    t, h, w = shape[:3]
    return np.sqrt(np.fft.fftfreq(t)[:, None, None] ** 2 + np.fft.fftfreq(h)[None, :, None] ** 2
                   + np.fft.rfftfreq(w)[None, None, :] ** 2)


def bin_weights(width: int) -> np.ndarray:
    """Full-spectrum bins each half-spectrum column stands for: 1 on ``k_x = 0`` and ``W/2``, else 2."""
    weights = np.full(half_width(width), 2.0)
    weights[0] = 1.0
    if width % 2 == 0:
        weights[-1] = 1.0
    return weights


def amplitude(shape, alpha: float) -> np.ndarray:
    r"""``1 / max(f, f_0)^alpha`` per bin, ``(T, H, W//2+1)``, with a mean square of 1 over the full spectrum.

    ``f_0 = 1 / max(T, H, W)``, the lowest frequency the clip resolves, keeps
    the zero frequency finite. With unit mean square, white unit-variance
    coefficients give a clip of unit variance per channel, so a coefficient
    and a pixel value are on one scale.
    """
    t, h, w = shape[:3]
    scale = np.maximum(frequencies(shape), 1.0 / max(t, h, w)) ** -float(alpha)
    mean_square = np.sum(bin_weights(w) * scale**2) / (t * h * w)
    return scale / np.sqrt(mean_square)


def colour_matrix(channels: int, role: str, decorrelate: bool = True) -> np.ndarray:
    """The ``(C, C)`` channel mixing: Lucid's ImageNet matrix for RGB appearance, else the identity.

    The matrix is divided by its largest column norm, so a unit step along
    luminance is a unit step in RGB. Flow gets none: under the reflections
    ``u -> -u`` and ``v -> -v`` and the 90 degree rotations, which natural
    motion is symmetric under on average, ``u`` and ``v`` are uncorrelated with
    equal variance, so their covariance is already a multiple of the identity.
    """
    if decorrelate and role == "appearance" and channels == 3:
        return LUCID_COLOUR_SQRT / np.linalg.norm(LUCID_COLOUR_SQRT, axis=0).max()
    return np.eye(channels)


class Basis:
    """The map ``Z -> x`` of the module notes for one input, its adjoint and its inverse.

    The FFTs run with the channels first, ``(N, C, T, H, W)`` (transposed views in and out):
    with the channels last, each line of the last FFT axis is strided, which costs numpy's
    FFT twice the time (issue 27); the colour mixing is then one ``(C, C)`` product per
    visualization. Results are the layouts of the module notes, in the working precision
    (float32 in, complex64 spectra).

    Parameters
    ----------
    shape : tuple
        ``(T, H, W, C)`` of one visualization.
    scale : ndarray
        ``(T, H, W//2+1)`` per-frequency amplitude (e.g. :func:`amplitude`).
    colour : ndarray
        ``(C, C)`` channel mixing (e.g. :func:`colour_matrix`), invertible.
    xp, dtype, device
        Where the arrays live.
    """

    def __init__(self, shape, scale, colour, *, xp, dtype, device=None):
        self.shape, self.xp, self.dtype = tuple(shape), xp, dtype
        t, h, w, _ = self.shape
        put = lambda a: from_numpy(a, xp, dtype=dtype, device=device)  # noqa: E731
        self.scale = put(np.asarray(scale)[..., None])
        self.colour = put(np.asarray(colour))
        self.colour_t = put(np.asarray(colour).T)
        self.inverse = put(np.linalg.inv(colour))
        self.weights = put(bin_weights(w)[:, None])
        #: the columns ``k_x`` whose planes :meth:`hermitian` projects: 0, and ``W/2`` for even W
        self.plane_columns = (0,) if w % 2 else (0, half_width(w) - 1)
        self.complex = xp.complex128 if dtype == xp.float64 else xp.complex64

    def as_complex(self, re, im):
        """``re + i im`` from two real arrays."""
        xp = self.xp
        return xp.astype(re, self.complex) + 1j * xp.astype(im, self.complex)

    def hermitian(self, z):
        """Project the planes ``k_x = 0`` and ``k_x = W/2`` onto Hermitian symmetry in ``(k_t, k_y)``
        (the other columns as they are)."""
        xp = self.xp
        width = z.shape[3]
        parts, last = [], 0
        for column in self.plane_columns:
            plane = z[:, :, :, column:column + 1, :]
            mirror = xp.roll(xp.flip(plane, axis=(1, 2)), shift=(1, 1), axis=(1, 2))  # k -> -k
            if column > last:
                parts.append(z[:, :, :, last:column, :])
            parts.append((plane + xp.conj(mirror)) / 2)
            last = column + 1
        if last < width:
            parts.append(z[:, :, :, last:, :])
        return xp.concat(parts, axis=3)

    def to_first(self, z):
        """``x`` of :meth:`to_input` with the channels first, ``(N, C, T, H, W)`` (contiguous)."""
        xp = self.xp
        spectrum = _contiguous(xp.permute_dims(self.hermitian(self.scale * z), _FIRST), xp)
        raw = xp.fft.irfftn(spectrum, s=self.shape[:3], axes=_FIRST_AXES, norm="ortho")
        n, c, t, h, w = raw.shape
        return xp.reshape(xp.matmul(self.colour, xp.reshape(raw, (n, c, t * h * w))),
                          (n, c, t, h, w))

    def to_input(self, z):
        """``x = irfftn(hermitian(scale * z)) @ colour.T`` for a complex half spectrum ``z``,
        channels last in memory too (a transposed view made PyTorch's per-pixel work
        downstream, the jitter's row take above all, up to 10x slower)."""
        return channels_last(self.to_first(z), self.xp)

    def adjoint(self, g):
        """The adjoint of :meth:`to_input` (real inner products): a complex half spectrum."""
        return self.adjoint_first(channels_first(g, self.xp))

    def adjoint_first(self, g):
        """:meth:`adjoint` of a cotangent with the channels first, ``(N, C, T, H, W)``."""
        xp = self.xp
        spectrum = xp.fft.rfftn(_mixed_first(self.colour_t, g, xp), axes=_FIRST_AXES,
                                norm="ortho")
        return (self.scale * self.weights) * xp.permute_dims(spectrum, _LAST)

    def from_input(self, x):
        """The ``z`` whose :meth:`to_input` is ``x`` (every scale must be non-zero)."""
        return self.from_first(channels_first(x, self.xp))

    def from_first(self, x):
        """:meth:`from_input` of an input with the channels first, ``(N, C, T, H, W)``."""
        xp = self.xp
        spectrum = xp.fft.rfftn(_mixed_first(self.inverse, x, xp), axes=_FIRST_AXES,
                                norm="ortho")
        return xp.permute_dims(spectrum, _LAST) / self.scale


_FIRST, _LAST = (0, 4, 1, 2, 3), (0, 2, 3, 4, 1)  # (N, T, H, W, C) <-> (N, C, T, H, W)
_FIRST_AXES = (2, 3, 4)  # t, y, x of (N, C, T, H, W)


def _mixed_first(matrix, x, xp):
    """``matrix`` ``(C, C)`` applied to each pixel of ``x`` ``(N, C, T, H, W)``."""
    n, c, t, h, w = x.shape
    return xp.reshape(xp.matmul(matrix, xp.reshape(x, (n, c, t * h * w))), (n, c, t, h, w))


def channels_first(x, xp):
    """``x`` ``(N, T, H, W, C)`` as ``(N, C, T, H, W)``, contiguous in that order."""
    return _contiguous(xp.permute_dims(x, _FIRST), xp)


def channels_last(x, xp):
    """``x`` ``(N, C, T, H, W)`` as ``(N, T, H, W, C)``, contiguous in that order."""
    return _contiguous(xp.permute_dims(x, _LAST), xp)


def _contiguous(x, xp):
    """``x`` in its own axis order in memory (a reshape there and back copies a transposed view)."""
    return xp.reshape(xp.reshape(x, (-1,)), x.shape)
