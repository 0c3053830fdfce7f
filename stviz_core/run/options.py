"""The run record: every option of one ascent run, declared once.

:class:`RunOptions` is a frozen dataclass with one field per option of
:func:`stviz_core.ascend` (and of :func:`stviz_core.visualize`, the presets'
runs and the sweeps' cells, which all build it). Each field declares its
default, its check and whether a preset supplies it; the record checks every
value when it is built (also by :meth:`RunOptions.replace`), and planning
(:func:`stviz_core.run.planning.plan_run`) reads it. Adding a run option is
one field here (with its check and a line in the docstring) plus the code that
uses it: planning when it depends on the backend, else the loop or a step,
which read it as ``run.options.<name>``.

Options left ``None`` whose field is marked ``preset=True`` take the preset's
attribute of the same name (:meth:`RunOptions.filled`): ``steps``,
``learning_rate``, ``parameterization``, ``transforms`` and ``diversity``; a
``preset`` left ``None`` is the one named :data:`stviz_core.presets.DEFAULT`.
"""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

import numpy as np

from .. import param as _param
from .. import presets as _presets
from .._checks import non_negative, positive, positive_int
from ..diversity import check_weight
from ..names import closest_names
from ..objective_tree import Context
from ..optim import Constant
from ..quality import SCALES
from ..threads import check_threads
from ..transforms import Transforms

__all__ = ["RunOptions", "option_names", "default_preset"]


# -- the checks of the fields ------------------------------------------------------------------


def _preset(value):
    if isinstance(value, str):
        return _presets.get(value)
    if not isinstance(value, _presets.Preset):
        raise TypeError(f"preset must be a Preset (see stviz_core.presets) or the name of one "
                        f"({', '.join(_presets.names())}), got {value!r}")
    return value


def _schedule(lr):
    if isinstance(lr, numbers.Real) and not isinstance(lr, bool):
        return Constant(float(lr))
    if not callable(lr) or not hasattr(lr, "to_dict"):
        raise TypeError("learning_rate must be a number or a schedule from stviz_core.optim "
                        f"(Constant, Exponential, Piecewise), got {lr!r}")
    return lr


def seed_value(s) -> int:
    """One seed as an int, or the error that says a seed is a non-negative integer."""
    if isinstance(s, bool) or not isinstance(s, (numbers.Integral, np.integer)) or s < 0:
        raise TypeError(f"a seed is a non-negative integer, got {s!r}")
    return int(s)


def _seed(value):
    if isinstance(value, Sequence) and not isinstance(value, str):
        seeds = tuple(seed_value(s) for s in value)
        if not seeds:
            raise ValueError("seed is an empty sequence")
        return seeds
    return seed_value(value)


def _transforms(value):
    if isinstance(value, Transforms):
        return value
    if isinstance(value, Mapping):
        return Transforms.from_dict(value)
    raise TypeError(f"transforms must be a stviz_core.transforms.Transforms or its to_dict(), "
                    f"got {value!r}")


def _objective_scale(value):
    if value not in SCALES:
        raise ValueError(f"objective_scale must be one of {', '.join(SCALES)}, got {value!r}")
    return value


def _callback(value):
    if not callable(value):
        raise TypeError(f"callback must be callable as callback(step, steps), got {value!r}")
    return value


def _option(default, check: Optional[Callable] = None, *, preset: bool = False,
            none: bool = True):
    """A field of the record: its default, its check (skipped for ``None`` when ``none``) and
    whether a ``None`` takes the preset's attribute of the same name."""
    return field(default=default, metadata={"check": check, "preset": preset, "none": none})


def _named(check, name):
    return lambda value: check(value, name)


# -- the record -------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunOptions:
    """The options of one ascent run, checked (docs/architecture.md, "The run record").

    Build it with keywords (``RunOptions(steps=50, preset="fourier")``), change it
    with :meth:`replace`; :func:`stviz_core.ascend` and :func:`stviz_core.visualize`
    take a record (``options=``) and keywords, which change it.

    Attributes
    ----------
    preset : Preset or str
        Regularization and optimization defaults: a :class:`~stviz_core.presets.Preset`
        or a name of :func:`stviz_core.presets.names` (built by ``presets.get``).
        Omitted (``None``): the caller's default, filled in by :meth:`filled`: the preset
        named :data:`stviz_core.presets.DEFAULT` (``"canvas"``) for :func:`stviz_core.ascend`,
        :func:`stviz_core.visualize` and the sweeps; :func:`stviz_core.invert` and
        :func:`stviz_core.accentuate` take ``paper`` instead. ``"paper"`` is the paper's
        method literally.
    steps : int, optional
        Ascent steps; the preset's if omitted.
    learning_rate : float or schedule, optional
        A number or a schedule of :mod:`stviz_core.optim`; the preset's if omitted.
    seed : int or sequence of int, optional
        One seed for all or one per visualization (visualization ``n`` with seed
        ``s`` runs as a single run with seed ``s``); default 0, or the seeds of
        the result ``init`` continues.
    jitter : bool
        Shift the input randomly by ``0..stride`` pixels each step.
    stride, rho : int, float, optional
        Jitter stride and receptive-field size of the layer; by default from
        ``backend.receptive_field()`` when it has one, else stride 0 and rho 1.
    a_hat : sequence of float, optional
        Per-channel maximum activation on a validation set (eq. 1); 1 if omitted.
    moment : {"pixel", "coordinate", "item"}, optional
        Adam's second moment (:func:`stviz_core.optim.adam`); the parameterization's by default.
    check_every : int
        Check the trace for NaN or infinity every this many steps; a non-finite
        value raises :class:`~stviz_core.NonFiniteError` with the run up to the last good check.
    callback : callable, optional
        Called as ``callback(step, steps)`` after every step (progress bars); not recorded.
    parameterization, transforms, diversity : optional
        What is optimized (``"pixel"``, ``"fourier"``, ``"maco"`` or a
        :mod:`stviz_core.param` object), the random transforms of each step
        (:mod:`stviz_core.transforms`) and the Gram diversity weight ``>= 0``
        (:mod:`stviz_core.diversity`); the preset's if omitted.
    objective_scale : {"auto", "paper"}
        Without ``a_hat``, ``"auto"`` scales each unit so that its gradient on the
        initial input matches the regularizers' (:mod:`stviz_core.quality`);
        ``"paper"`` keeps eq. 1 literal. ``config["quality"]`` records each
        visualization's unit share of the gradient, gain and distinctness.
    init : mapping, Clip or Result, optional
        Where to start (:mod:`stviz_core.run.start`): noise when omitted; canonical
        inputs ``{name: (N or 1, T, H, W, C)}`` or a :class:`~stviz_core.Clip`
        (checked, projected into the bound with a warning); or a :class:`Result`
        to continue (seeds, objective scale, schedule position, kept Adam state).
    schedule_steps : int, optional
        Length of the whole plan this run starts (``>= steps``): schedule, jitter
        and transforms are those of a ``schedule_steps`` run; default ``steps``.
    keep_state : bool
        Keep Adam's moments (and non-pixel parameters) in :attr:`Result.state`,
        so that a continuation goes on exactly as the uninterrupted run would.
    anchor : float
        Weight ``>= 0`` of ``sum |x - x0|^2 / (T H W B^2)`` per input given by
        ``init`` (feature accentuation; trace rows ``"<input>/anchor"``); 0: none.
    threads : int or "free", optional
        The framework's threads for this run (:mod:`stviz_core.threads`); by default
        ``stviz --threads`` / ``STVIZ_THREADS``, else chosen for the work (one thread for a
        small step, else every core); ``"free"``: the cores other work leaves free (the bytes
        then follow the load). Applied by the backend; ``config["backend_details"]["threads"]``
        records it.
    """

    preset: Any = _option(None, _preset)
    steps: Optional[int] = _option(None, _named(positive_int, "steps"), preset=True)
    learning_rate: Any = _option(None, _schedule, preset=True)
    seed: Any = _option(None, _seed)
    jitter: bool = _option(True, bool, none=False)
    stride: Optional[float] = _option(None, _named(non_negative, "stride"))
    rho: Optional[float] = _option(None, _named(positive, "rho"))
    a_hat: Optional[tuple] = _option(None, lambda v: tuple(Context.check_a_hat(v)))
    moment: Optional[str] = _option(None)
    check_every: int = _option(10, _named(positive_int, "check_every"))
    callback: Optional[Callable] = _option(None, _callback)
    parameterization: Any = _option(None, _param.resolve, preset=True)
    transforms: Optional[Transforms] = _option(None, _transforms, preset=True)
    diversity: Optional[float] = _option(None, check_weight, preset=True)
    objective_scale: str = _option("auto", _objective_scale)
    init: Any = _option(None)
    schedule_steps: Optional[int] = _option(None, _named(positive_int, "schedule_steps"))
    keep_state: bool = _option(False, bool, none=False)
    anchor: float = _option(0.0, lambda v: 0.0 if v is None else non_negative(v, "anchor"),
                            none=False)
    threads: Any = _option(None, check_threads)

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value, check = getattr(self, f.name), f.metadata["check"]
            if check is not None and (value is not None or not f.metadata["none"]):
                object.__setattr__(self, f.name, check(value))

    @classmethod
    def build(cls, options: Optional["RunOptions"] = None, **changes) -> "RunOptions":
        """``options`` (all defaults when omitted) with ``changes``: what ``ascend(options, **kw)`` runs.

        Raises
        ------
        TypeError
            ``options`` that is not a :class:`RunOptions`; a change that is not an option
            (the message lists the close names).
        """
        if options is None:
            options = _DEFAULTS
        elif not isinstance(options, RunOptions):
            raise TypeError(f"options must be a stviz_core.RunOptions, got {type(options).__name__}")
        return options.replace(**changes) if changes else options

    def replace(self, **changes) -> "RunOptions":
        """A copy with options changed (each checked), e.g. ``options.replace(steps=50)``."""
        unknown = sorted(set(changes) - set(option_names()))
        if unknown:
            close = closest_names(unknown[0], option_names())
            hint = f" (did you mean {', '.join(close)}?)" if close else ""
            raise TypeError(f"unknown run option {unknown[0]!r}{hint}; the run options are "
                            f"{', '.join(option_names())}")
        return dataclasses.replace(self, **changes)

    def filled(self) -> "RunOptions":
        """This record with its preset (:data:`stviz_core.presets.DEFAULT` when ``None``) and
        every preset-supplied option left ``None`` taken from the preset."""
        preset = default_preset() if self.preset is None else self.preset
        taken = {f.name: getattr(preset, f.name) for f in dataclasses.fields(self)
                 if f.metadata["preset"] and getattr(self, f.name) is None}
        return dataclasses.replace(self, preset=preset, **taken)


def default_preset():
    """The preset a run takes when none is given: ``presets.get(presets.DEFAULT)``."""
    return _presets.get(_presets.DEFAULT)


def option_names() -> tuple:
    """The names of the run options, in the order of :class:`RunOptions`' fields."""
    return tuple(f.name for f in dataclasses.fields(RunOptions))


_DEFAULTS = RunOptions()
