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

Two options every parameterization takes (``docs/architecture.md``,
"Parameterizations, transforms and diversity"):

* ``canvas=(time, space)`` (:mod:`stviz_core.param._canvas`): the parameters
  stand for a canvas larger than the clip; :meth:`Field.to_canvas` is all of it
  (what the step's crops are taken from, :meth:`Field.canvas`),
  :meth:`Field.to_input` its centre, the clip the run returns.
* ``squash``, ``standardize``, ``contrast`` (:mod:`stviz_core.param._output`):
  the raw output standardized and squashed into the bound, contrast and bound
  by construction.
"""

from __future__ import annotations

import abc

from .._checks import real
from ._canvas import View, canvas_shape, check_canvas
from ._output import Output, check_output

__all__ = ["Parameterization", "Field", "check_alpha", "ALPHA_DOMAIN", "SHAPING"]

ALPHA_DOMAIN = (0.0, 4.0)
#: The options every parameterization takes, and their defaults (which leave the field as it was).
SHAPING = {"canvas": (1.0, 1.0), "squash": None, "standardize": False, "contrast": 0.5}


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
    #: whether the raw map has an inverse from an input to parameters (:meth:`Field.from_input`)
    inverts = False

    @property
    def takes_init(self) -> bool:
        """Whether a run can start from a given input (``ascend(init=...)``): the field maps an
        input back to parameters that stand for it exactly (not through a squash or z-score)."""
        return self.inverts and not self.output.active

    @property
    def output(self) -> Output:
        """The output stage (:mod:`stviz_core.param._output`)."""
        return Output(self.squash, self.standardize, self.contrast)

    def _check_shaping(self):
        """Check and normalize the :data:`SHAPING` options (called by ``__post_init__``)."""
        out = check_output(self.squash, self.standardize, self.contrast)
        for key, value in (("canvas", check_canvas(self.canvas)), ("squash", out.squash),
                           ("contrast", out.contrast)):
            object.__setattr__(self, key, value)

    def _where(self, bound, xp, dtype, device):
        """The keywords of :class:`Field` for one input."""
        return dict(bound=bound, xp=xp, dtype=dtype, device=device, canvas=self.canvas,
                    output=self.output)

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
        """The settings, with ``"name"``; :func:`stviz_core.param.from_dict` rebuilds them.

        The :data:`SHAPING` options appear only where they differ from their defaults.
        """
        return {"name": self.name, **{k: list(v) if isinstance(v, tuple) else v
                                      for k, v in self.__dict__.items()
                                      if k not in SHAPING or v != SHAPING[k]}}


class Field(abc.ABC):
    """One input's parameterization in one run (made by :meth:`Parameterization.bind`).

    ``shape`` is the clip's ``(T, H, W, C)``; ``canvas_shape`` the canvas the
    parameters stand for (the clip's without a canvas); ``view`` takes the clip
    from a canvas-shaped array.
    """

    def __init__(self, shape, role, *, bound, xp, dtype, device=None, canvas=(1.0, 1.0),
                 output=None):
        self.shape, self.role, self.bound = tuple(shape), role, float(bound)
        self.xp, self.dtype, self.device = xp, dtype, device
        self.canvas_shape = canvas_shape(self.shape, canvas)
        self.view = View(self.shape, self.canvas_shape)
        self.output = Output() if output is None else output
        self.centre = role == "appearance"  # standardizing subtracts the mean (flow keeps its mean)

    @abc.abstractmethod
    def to_canvas(self, params):
        """The whole canvas ``(N, T', H', W', C)`` the parameters stand for (the input itself
        without a canvas)."""

    def to_input(self, params):
        """The input ``(N, T, H, W, C)`` the parameters stand for: the canvas's centre view."""
        return self.view(self.to_canvas(params))

    def remembered(self, key, params, compute):
        """``compute(params)``, kept under ``key`` for the last ``params`` object: a step's
        constraint, canvas and VJP all read the outputs of the same parameters (one FFT and
        one output stage, not three)."""
        memory = self.__dict__.setdefault("_memory", {})
        last = memory.get(key)
        if last is not None and last[0] is params:
            return last[1]
        value = compute(params)
        memory[key] = (params, value)
        return value

    def start_scale(self, scale: float) -> float:
        """The initial noise's scale (a fraction of the bound, RMS ``scale B / sqrt(3)``): the
        preset's ``scale``, or, standardized, ``contrast sqrt(3)`` (a raw output of the scale of
        the input it makes, so that Adam's steps mean what they mean without the z-score)."""
        return self.output.contrast * 3**0.5 if self.output.standardize else scale

    def canvas(self, params, x):
        """What the step's crops are taken from: ``x`` itself (the same array) without a canvas,
        else :meth:`to_canvas`."""
        return x if self.view.identity else self.to_canvas(params)

    def canvas_cotangent(self, cotangent):
        """A cotangent of the clip placed in the canvas (zeros around); a canvas's as it is."""
        if self.view.identity or tuple(cotangent.shape[1:]) == self.canvas_shape:
            return cotangent
        return self.view.adjoint(cotangent, self.xp)

    @abc.abstractmethod
    def init(self, rngs, *, scale: float):
        """Initial parameters of N visualizations, one numpy Generator each (the same numbers
        in every backend); ``scale`` is the preset's ``init_scale``."""

    @abc.abstractmethod
    def vjp(self, params, cotangent):
        """The gradient w.r.t. the parameters of ``<to_canvas(params), cotangent>`` (a cotangent
        of the clip's shape: of ``<to_input(params), cotangent>``)."""

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
                         "init= is taken by the 'pixel' and 'fourier' parameterizations "
                         "without squash or standardize")
