"""What a parameterization is: settings that bind, per input, to a :class:`Field`.

A :class:`Parameterization` (``Pixel()``, ``Fourier(alpha=1)``, ``Maco()``) holds
settings only. :meth:`Parameterization.bind` makes the :class:`Field` of one
input of one run: its shape, role, hard bound and array namespace fixed, its
constant arrays (spectra, colour matrices) placed on the device once.

The ascent optimizes a field's *parameters*; the network sees
``to_input(params)``, in the canonical layout ``(N, T, H, W, C)``. After each
Adam step the loop calls :meth:`Field.constrain`, which returns the parameters
to continue from and the input of the next step, with every pixel vector of
that input inside the hard bound.
"""

from __future__ import annotations

import abc

from .._checks import real

__all__ = ["Parameterization", "Field", "check_alpha", "ALPHA_DOMAIN"]

ALPHA_DOMAIN = (0.0, 4.0)


def check_alpha(alpha) -> float:
    """``alpha`` as a float in :data:`ALPHA_DOMAIN`, or a ``ValueError`` stating the domain."""
    alpha = real(alpha, "alpha")
    lo, hi = ALPHA_DOMAIN
    if not lo <= alpha <= hi:
        raise ValueError(f"alpha must be in [{lo:g}, {hi:g}] (amplitudes fall as 1/f^alpha; "
                         f"natural images: about 1), got {alpha}")
    return alpha


class Parameterization(abc.ABC):
    """Settings of a parameterization; :meth:`bind` makes the field of one input.

    ``moment`` is the Adam second moment the ascent uses by default
    (:func:`stviz_core.optim.adam`): ``"pixel"`` shares it over the last axis
    (a pixel's channels; for maco, one frequency's phases), ``"item"`` over the
    whole input (the Fourier spectrum, whose 1/f^alpha scaling a moment per
    coefficient would undo).
    """

    name: str
    moment: str = "item"
    #: whether a run can start from a given input (``ascend(init=...)``): the field can map an
    #: input back to parameters that stand for it exactly (:meth:`Field.from_input`)
    takes_init: bool = False

    @abc.abstractmethod
    def bind(self, shape, role, *, bound, xp, dtype, device=None) -> "Field":
        """The :class:`Field` of one input.

        Parameters
        ----------
        shape : tuple
            ``(T, H, W, C)`` of one visualization.
        role : {"appearance", "motion"}
        bound : float
            The hard bound ``B`` on each pixel vector's norm.
        xp, dtype, device
            Where the parameters and inputs live.
        """

    def to_dict(self) -> dict:
        """The settings, with ``"name"``; :func:`stviz_core.param.from_dict` rebuilds them."""
        return {"name": self.name, **{k: v for k, v in self.__dict__.items()}}


class Field(abc.ABC):
    """One input's parameterization in one run (made by :meth:`Parameterization.bind`)."""

    def __init__(self, shape, role, *, bound, xp, dtype, device=None):
        self.shape, self.role, self.bound = tuple(shape), role, float(bound)
        self.xp, self.dtype, self.device = xp, dtype, device

    @abc.abstractmethod
    def init(self, rngs, *, scale: float):
        """Initial parameters of N visualizations, one numpy Generator each (the same numbers
        in every backend); ``scale`` is the preset's ``init_scale``."""

    @abc.abstractmethod
    def to_input(self, params):
        """The input ``(N, T, H, W, C)`` the parameters stand for."""

    @abc.abstractmethod
    def vjp(self, params, cotangent):
        """The gradient w.r.t. the parameters of ``<to_input(params), cotangent>``."""

    @abc.abstractmethod
    def constrain(self, params):
        """``(params, x)`` after an Adam step: ``x`` inside the bound, ``params`` standing for it."""

    def initial(self, params):
        """``(params, x)`` at the start: by default :meth:`constrain`."""
        return self.constrain(params)

    def from_input(self, x):
        """The parameters whose :meth:`to_input` is ``x`` (an input inside the bound).

        Raises
        ------
        ValueError
            The parameterization has no inverse (``takes_init`` is false).
        """
        raise ValueError(f"{type(self).__name__} has no inverse from an input to its parameters; "
                         "init= is taken by the 'pixel' and 'fourier' parameterizations")
