"""The plan of one ascent run: the run record checked against the backend, with its defaults.

:func:`plan_run` reads a :class:`~stviz_core.run.options.RunOptions` (the record
of the run's options), checks it against the backend (units and codes against
the layer, ``a_hat`` against its channels, ``init`` against its inputs) and
fills in what it leaves open (the preset's options, the receptive field, the
seeds): the frozen :class:`RunSettings` the loop and the steps read.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

from .._checks import non_negative, positive, positive_int
from .._xp import from_numpy
from ..backend import backend_member, input_specs
from ..codes import layer_name
from ..feature_matching import feature_terms, resolve_codes
from ..objective_tree import Context, Objective, per_item, split_scale_free
from ..param._canvas import check_plan
from .options import RunOptions, seed_value
from .start import NOISE, Start, plan_start, previous_result

__all__ = ["RunSettings", "plan_run"]


@dataclass(frozen=True)
class RunSettings:
    """A planned ascent run: its options (:attr:`options`, filled in) and what planning found.

    The options are read through :attr:`options` (``run.options.<name>``); the
    ones the loop reads most are also properties here (:attr:`steps`,
    :attr:`preset`, :attr:`schedule`, :attr:`jitter`, :attr:`parameterization`,
    :attr:`transforms`, :attr:`diversity`, :attr:`objective_scale`,
    :attr:`keep_state`, :attr:`anchor`, :attr:`check_every`).

    Attributes
    ----------
    options : RunOptions
        The run record with the preset's options filled in (:meth:`RunOptions.filled`).
    objective : Objective
        The batch's objective (a per-item one when each visualization has its own),
        with its clips encoded (:func:`stviz_core.feature_matching.resolve_codes`).
    seeds : tuple of int
        One seed per visualization; their number is the batch size N.
    stride : int
        Largest jitter offset in pixels.
    rho : float
        Receptive-field size of the target layer.
    context : Context
        ``rho`` and ``a_hat`` for the objective's normalization.
    moment : str
        Adam's second moment: ``"pixel"``, ``"coordinate"`` or ``"item"``.
    specs : mapping of str to InputSpec
        The backend's inputs.
    streams : mapping of str to StreamRegularization
        Each input's regularization, from the preset and the input's role.
    weights : mapping of str to (float, float)
        Each input's ``(lambda_norm, lambda_tv)``.
    used : tuple of str
        Inputs the target layer depends on, sorted: the ones the ascent optimizes.
    start : Start
        Where the run starts (:mod:`stviz_core.run.start`): noise, a clip, or a result continued.
    schedule_steps : int, optional
        Steps of the whole plan (``>= first_step + steps``): the learning rate at this
        run's step ``i`` is the schedule's at ``first_step + i`` of ``schedule_steps``, and
        the jitter offsets and transforms are drawn for the whole plan.
    unit_scale : tuple of float, optional
        Per-visualization factors on the objective, set by the loop with ``"auto"``.
    unit_part, free_part : Objective or None
        ``objective`` split by :func:`stviz_core.objective_tree.split_scale_free`: the
        terms the automatic scale applies to, and the scale-free ones (feature
        matching). ``free_part`` is ``None`` when there are none (then the
        whole objective takes the scale).
    anchor_to : mapping of str to array
        The clip each anchored input is kept near, on the backend's device
        (:func:`stviz_core.regularizers.anchor_value_grad`; empty without an anchor).
    compiled : callable or None
        The backend's ``compiled`` member (:mod:`stviz_core.run.fused`: the step's element-wise
        work compiled), None for the eager step.
    """

    options: RunOptions
    objective: Objective
    seeds: tuple
    stride: int
    rho: float
    context: Context
    moment: str
    specs: Mapping
    streams: Mapping
    weights: Mapping
    used: tuple
    start: Start = NOISE
    schedule_steps: Optional[int] = None
    unit_scale: Optional[tuple] = None
    unit_part: Optional[Objective] = None
    free_part: Optional[Objective] = None
    anchor_to: Mapping = dataclasses.field(default_factory=dict)
    compiled: Optional[Callable] = None

    preset = property(lambda self: self.options.preset, doc="The run's :class:`Preset`.")
    steps = property(lambda self: self.options.steps, doc="Steps of this run.")
    schedule = property(lambda self: self.options.learning_rate,
                        doc="Learning rate as a function ``(step, steps) -> float``.")
    jitter = property(lambda self: self.options.jitter, doc="Whether the inputs are jittered.")
    check_every = property(lambda self: self.options.check_every,
                           doc="Steps between checks of the trace for non-finite values.")
    parameterization = property(lambda self: self.options.parameterization,
                                doc="What the ascent optimizes (:mod:`stviz_core.param`).")
    transforms = property(lambda self: self.options.transforms,
                          doc="Random transforms each step besides the jitter.")
    diversity = property(lambda self: self.options.diversity,
                         doc="Weight of the Gram diversity term.")
    objective_scale = property(lambda self: self.options.objective_scale,
                               doc="The unit term's scale without ``a_hat``: ``auto`` or ``paper``.")
    keep_state = property(lambda self: self.options.keep_state,
                          doc="Keep Adam's moments (and what else a continuation needs).")
    anchor = property(lambda self: self.options.anchor if self.anchor_to else 0.0,
                      doc="Weight of the pixel-distance term to ``anchor_to`` (0: none).")
    first_step = property(lambda self: self.start.first_step,
                          doc="Steps of the plan done before this run (a continuation's; else 0).")

    @property
    def units(self) -> Optional[Objective]:
        """The terms that take the automatic scale: the whole objective, or its unit part when it
        has scale-free terms; ``None`` when every term is scale-free."""
        return self.objective if self.free_part is None else self.unit_part

    @property
    def auto_scaled(self) -> bool:
        """Whether the unit term gets the automatic scale (``"auto"``, no ``a_hat``, and a unit term)."""
        return (self.objective_scale == "auto" and self.context.a_hat is None
                and self.units is not None)

    @property
    def batch(self) -> int:
        """Number of visualizations N."""
        return len(self.seeds)

    @property
    def diverse(self) -> bool:
        """Whether the diversity term is computed (a weight > 0 and at least one pair)."""
        return self.diversity > 0 and self.batch > 1

    @property
    def frozen(self) -> tuple:
        """Inputs the target layer does not depend on, sorted: they stay as initialized."""
        return tuple(sorted(set(self.specs) - set(self.used)))

    @property
    def plan_steps(self) -> int:
        """Steps of the whole plan this run is a part of (``schedule_steps``, else ``steps``)."""
        return self.steps if self.schedule_steps is None else self.schedule_steps

    def learning_rate(self, step: int) -> float:
        """The schedule's learning rate at the 0-based ``step`` of this run (step
        ``first_step + step`` of the plan)."""
        return self.schedule(self.first_step + step, self.plan_steps)

    def is_check_step(self, step: int) -> bool:
        """Whether the trace is checked for non-finite values after ``step``."""
        return (step + 1) % self.check_every == 0 or step == self.steps - 1


def plan_run(backend, objective, options: Optional[RunOptions] = None, **changes) -> RunSettings:
    """Check the run record against ``backend`` and fill in its defaults: the run's plan.

    Parameters
    ----------
    backend : Backend
    objective : Objective or sequence of Objective
        One objective for the whole batch, or one per visualization.
    options : RunOptions, optional
        The run's options (all defaults when omitted).
    **changes
        Options that change ``options`` (:meth:`RunOptions.replace`): the keywords of
        :func:`stviz_core.ascend`. ``moment`` is checked when the optimizer is built;
        ``seed=None`` is 0, or a continued result's seeds; ``init`` is planned by
        :func:`stviz_core.run.start.plan_start`.

    Returns
    -------
    RunSettings
    """
    options = RunOptions.build(options, **changes).filled()
    objective, n_obj = _batch_objective(objective)
    objective = resolve_codes(objective, backend)  # feature_match(clip): the clip's code
    seeds = _seeds(_seed_of(options.seed, options.init), n_obj)
    specs = _specs(backend)
    channels = _channel_count(backend)
    _check_units(objective, channels, backend)
    _check_codes(objective, backend, len(seeds))
    a_hat = _a_hat(options.a_hat, channels, backend)
    rho, stride = _receptive_field(backend, options.rho, options.stride)
    streams = {k: options.preset.for_role(s.role) for k, s in specs.items()}
    check_plan(options.parameterization, options.transforms, specs)
    start = plan_start(options.init, specs=specs, bounds={k: streams[k].bound for k in specs},
                       batch=len(seeds), parameterization=options.parameterization,
                       objectives=[o.describe() for o in objective.per_visualization(len(seeds))],
                       layer=layer_name(backend), objective_scale=options.objective_scale)
    unit_part, free_part = _split(objective)
    return RunSettings(
        options=options, objective=objective, seeds=tuple(seeds), stride=stride, rho=rho,
        context=Context(rho=rho, a_hat=a_hat),
        moment=options.parameterization.moment if options.moment is None else options.moment,
        specs=specs, streams=streams,
        weights={k: streams[k].weights(specs[k].shape) for k in specs},
        used=_used_inputs(backend, specs), start=start, unit_scale=start.unit_scale,
        schedule_steps=_planned_steps(options.schedule_steps, start, options.steps),
        unit_part=unit_part, free_part=free_part,
        anchor_to=_anchored(options.anchor, start, backend),
        compiled=backend_member(backend, "compiled"))


def _seed_of(seed, init):
    """The seed option, or a continued result's seeds, or 0."""
    previous = previous_result(init)
    if seed is None:
        return tuple(previous.config.get("seeds") or [0]) if previous is not None else 0
    return seed


def _planned_steps(schedule_steps, start, steps) -> int:
    """Length of the whole plan this run belongs to: ``schedule_steps``, else the continued
    result's plan (extended when this run goes past it), else this run's steps."""
    first_step = start.first_step
    planned = start.schedule_steps if schedule_steps is None else positive_int(
        schedule_steps, "schedule_steps")
    if planned is None:
        return first_step + steps
    if planned < first_step + steps:
        if schedule_steps is not None:
            raise ValueError(f"schedule_steps={planned} is shorter than the run: {first_step} "
                             f"step(s) done before it and {steps} in it; give at least "
                             f"{first_step + steps}, or leave it out")
        return first_step + steps  # a continuation past the planned length extends the plan
    return planned


# -- validation ----------------------------------------------------------------


def _batch_objective(objective):
    if isinstance(objective, Objective):
        return objective, None
    if isinstance(objective, Sequence) and not isinstance(objective, str):
        if len(objective) == 1 and isinstance(objective[0], Objective):
            return objective[0], 1  # one visualization: no per-item slicing
        return per_item(objective), len(objective)
    raise TypeError(
        f"objective must be an Objective or a sequence of them, got {type(objective).__name__}"
    )


def _seeds(seed, n_obj):
    if isinstance(seed, Sequence) and not isinstance(seed, str):
        seeds = [seed_value(s) for s in seed]
        if not seeds:
            raise ValueError("seed is an empty sequence")
        if n_obj is not None and len(seeds) != n_obj:
            raise ValueError(f"{len(seeds)} seeds for {n_obj} objectives; give one seed or one each")
        return seeds
    return [seed_value(seed)] * (n_obj or 1)


def _specs(backend) -> dict:
    missing = [a for a in ("inputs", "xp", "dtype", "device", "activations", "vjp")
               if not hasattr(backend, a)]
    if missing:
        raise TypeError(
            f"{type(backend).__name__} is not a stviz backend: it lacks {', '.join(missing)} "
            "(see stviz_core.backend)"
        )
    specs = dict(backend.inputs)
    if not specs:
        raise ValueError("the backend declares no inputs")
    return input_specs(specs)


def _channel_count(backend):
    """The target layer's channel count (``backend.activation_shape[-1]``); ``None`` when unknown."""
    shape = backend_member(backend, "activation_shape")
    try:
        return int(shape[-1]) if shape else None
    except (TypeError, ValueError, IndexError):
        return None


def _layer(backend) -> str:
    layer = backend_member(backend, "layer")
    return f"layer {layer!r}" if layer else "the target layer"


def _check_units(objective, channels, backend) -> None:
    """Refuse units past the layer's channel count before anything is allocated for them."""
    if channels is None:
        return
    bad = sorted({leaf.unit_channel for leaf in objective.leaves()
                  if leaf.unit_channel is not None and leaf.unit_channel >= channels})
    if bad:
        listed = ", ".join(map(str, bad[:5])) + (f", ... ({len(bad)} in all)" if len(bad) > 5 else "")
        what = f"channel {listed} is" if len(bad) == 1 else f"channels {listed} are"
        layer = backend_member(backend, "layer")
        raise ValueError(f"{what} out of range: the layer has {channels} channels "
                         f"(0..{channels - 1})" + (f" [layer {layer!r}]" if layer else ""))


def _anchored(weight, start, backend) -> dict:
    """``{input: clip on the device}`` of the pixel-distance term of weight ``weight``; ``{}`` without."""
    if weight == 0:
        return {}
    if start.kind == "noise":
        raise ValueError("anchor= keeps the input near the clip the run starts from: give init= a "
                         "clip (canonical inputs or a stviz_core.Clip)")
    if start.continued:
        kept = {k[len("anchor/"):]: v for k, v in start.state.items() if k.startswith("anchor/")}
        if not kept:
            raise ValueError("anchor= in a continuation needs the clip the continued run was "
                             "anchored to; that run kept none (run it with anchor= and "
                             "keep_state=True)")
    else:
        kept = dict(start.inputs)
    return {k: from_numpy(v, backend.xp, dtype=backend.dtype, device=backend.device)
            for k, v in sorted(kept.items())}


def _split(objective):
    """``(unit_part, free_part)`` for :class:`RunSettings`: ``(None, None)`` without scale-free terms
    (the run then uses ``objective`` itself, whose cached cotangents stay with it)."""
    unit, free = split_scale_free(objective)
    return (None, None) if free is None else (unit, free)


def _check_codes(objective, backend, batch) -> None:
    """Refuse feature-matching codes of another layer, shape or batch than the run's."""
    shape = backend_member(backend, "activation_shape")
    try:
        shape = tuple(int(d) for d in shape[1:]) if shape else None
    except (TypeError, ValueError):
        shape = None
    for term in feature_terms(objective):
        term.check_against(layer_name(backend), shape, batch)


def _a_hat(a_hat, channels, backend):
    """``a_hat`` as a list of floats in ``(0, inf)``, one per channel of the layer; or ``None``."""
    if a_hat is None:
        return None
    values = Context.check_a_hat(a_hat)
    if channels is not None and len(values) != channels:
        raise ValueError(f"a_hat has {len(values)} entries but {_layer(backend)} has {channels} "
                         "channels: give one value per channel (activity recorded at this layer)")
    return values


def _receptive_field(backend, rho, stride):
    """``(rho, stride)``: the given ones, else the backend's receptive field, else 1 and 0."""
    rf = None
    if rho is None or stride is None:
        rf = backend_member(backend, "receptive_field")()
    rho = positive(rho if rho is not None else (rf[0] if rf else 1.0), "rho")
    stride = int(non_negative(stride if stride is not None else (rf[1] if rf else 0), "stride"))
    return rho, stride


def _used_inputs(backend, specs):
    """Inputs the target layer depends on (``backend.used_inputs`` when it says; else all)."""
    used = backend_member(backend, "used_inputs")
    used = set(specs) if not used else set(used) & set(specs)
    return tuple(sorted(used or specs))  # a fixed order: the float sums over inputs must not vary


