"""The plan of one ascent run: its validated settings, and the config that records them."""

from __future__ import annotations

import dataclasses
import numbers
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence

import numpy as np

from . import __version__
from . import param as _param
from . import presets as _presets
from ._checks import non_negative, positive, positive_int
from .diversity import check_weight
from ._xp import from_numpy
from .backend import input_specs
from .codes import layer_name
from .objectives import (Context, Objective, feature_terms, per_item, resolve_codes,
                         split_scale_free)
from .optim import Constant
from .quality import SCALES, STATISTIC
from .regularizers import ANCHOR_TERM
from .start import NOISE, Start, plan_start, previous_result
from .transforms import Transforms

__all__ = ["RunSettings", "plan_run", "run_config"]


@dataclass(frozen=True)
class RunSettings:
    """Everything an ascent run is planned with, validated.

    Attributes
    ----------
    objective : Objective
        The batch's objective (a per-item one when each visualization has its own).
    seeds : tuple of int
        One seed per visualization; their number is the batch size N.
    preset : Preset
    steps : int
    schedule : schedule
        Learning rate as a function ``(step, steps) -> float``.
    jitter : bool
    stride : int
        Largest jitter offset in pixels.
    rho : float
        Receptive-field size of the target layer.
    context : Context
        ``rho`` and ``a_hat`` for the objective's normalization.
    moment : str
        Adam's second moment: ``"pixel"``, ``"coordinate"`` or ``"item"``.
    check_every : int
        Steps between checks of the trace for non-finite values.
    specs : mapping of str to InputSpec
        The backend's inputs.
    streams : mapping of str to StreamRegularization
        Each input's regularization, from the preset and the input's role.
    weights : mapping of str to (float, float)
        Each input's ``(lambda_norm, lambda_tv)``.
    used : tuple of str
        Inputs the target layer depends on, sorted: the ones the ascent optimizes.
    parameterization : Parameterization
        What the ascent optimizes (:mod:`stviz_core.param`).
    transforms : Transforms
        Random transforms each step besides the jitter.
    diversity : float
        Weight of the Gram diversity term.
    objective_scale : {"auto", "paper"}
        The unit term's scale when no ``a_hat`` is given (:mod:`stviz_core.quality`).
    unit_scale : tuple of float, optional
        Per-visualization factors on the objective, set by the loop with ``"auto"``.
    start : Start
        Where the run starts (:mod:`stviz_core.start`): noise, a clip, or a result continued.
    first_step : int
        Steps of the plan done before this run (a continuation's; 0 otherwise).
    schedule_steps : int
        Steps of the whole plan (``>= first_step + steps``): the learning rate at this
        run's step ``i`` is the schedule's at ``first_step + i`` of ``schedule_steps``, and
        the jitter offsets and transforms are drawn for the whole plan.
    keep_state : bool
        Keep Adam's moments (and what else a continuation needs) in :attr:`Result.state`.
    anchor : float
        Weight of the pixel-distance term that keeps each anchored input near
        ``anchor_to`` (0: none; :func:`stviz_core.regularizers.anchor_value_grad`).
    anchor_to : mapping of str to array
        The clip each anchored input is kept near, on the backend's device.
    unit_part, free_part : Objective or None
        ``objective`` split by :func:`stviz_core.objectives.split_scale_free`: the
        terms the automatic scale applies to, and the scale-free ones (feature
        matching). ``free_part`` is ``None`` when there are none (then the
        whole objective takes the scale).
    """

    objective: Objective
    seeds: tuple
    preset: _presets.Preset
    steps: int
    schedule: object
    jitter: bool
    stride: int
    rho: float
    context: Context
    moment: str
    check_every: int
    specs: Mapping
    streams: Mapping
    weights: Mapping
    used: tuple
    parameterization: _param.Parameterization = _param.Pixel()
    transforms: Transforms = Transforms()
    diversity: float = 0.0
    objective_scale: str = "paper"
    unit_scale: Optional[tuple] = None
    start: Start = NOISE
    first_step: int = 0
    schedule_steps: Optional[int] = None
    keep_state: bool = False
    unit_part: Optional[Objective] = None
    free_part: Optional[Objective] = None
    anchor: float = 0.0
    anchor_to: Mapping = dataclasses.field(default_factory=dict)

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


def plan_run(backend, objective, *, preset=None, steps: Optional[int] = None, learning_rate=None,
             seed=None, jitter: bool = True, stride: Optional[int] = None, rho: Optional[float] = None,
             a_hat=None, moment: Optional[str] = None, check_every: int = 10, parameterization=None,
             transforms=None, diversity=None, objective_scale="auto", init=None,
             schedule_steps: Optional[int] = None, keep_state: bool = False, anchor=None) -> RunSettings:
    """Validate the arguments of :func:`stviz_core.ascend` against ``backend``; fill in defaults.

    Parameters are those of :func:`stviz_core.ascend` (``moment`` is checked
    when the optimizer is built); ``parameterization``, ``transforms`` and
    ``diversity`` default to the preset's; ``objective_scale`` is ``"auto"`` or
    ``"paper"`` (:mod:`stviz_core.quality`); ``seed=None`` is 0, or a continued
    result's seeds; ``init`` is planned by :func:`stviz_core.start.plan_start`.

    Returns
    -------
    RunSettings
    """
    preset = _presets.paper() if preset is None else preset
    if not isinstance(preset, _presets.Preset):
        raise TypeError(f"preset must be a Preset (see stviz_core.presets), got {preset!r}")
    steps = positive_int(preset.steps if steps is None else steps, "steps")
    check_every = positive_int(check_every, "check_every")
    schedule = _schedule(preset.learning_rate if learning_rate is None else learning_rate)
    objective, n_obj = _batch_objective(objective)
    objective = resolve_codes(objective, backend)  # feature_match(clip): the clip's code
    previous = previous_result(init)
    if seed is None:
        seed = list(previous.config.get("seeds") or [0]) if previous is not None else 0
    seeds = _seeds(seed, n_obj)
    specs = _specs(backend)
    channels = _channel_count(backend)
    _check_units(objective, channels, backend)
    _check_codes(objective, backend, len(seeds))
    a_hat = _a_hat(a_hat, channels, backend)
    rho, stride = _receptive_field(backend, rho, stride)
    streams = {k: preset.for_role(s.role) for k, s in specs.items()}
    parameterization = _param.resolve(
        preset.parameterization if parameterization is None else parameterization)
    objective_scale = _objective_scale(objective_scale)
    start = plan_start(init, specs=specs, bounds={k: streams[k].bound for k in specs},
                       batch=len(seeds), parameterization=parameterization,
                       objectives=_descriptions(objective, len(seeds)), layer=layer_name(backend),
                       objective_scale=objective_scale)
    first_step = start.first_step
    planned = _planned_steps(schedule_steps, start, steps)
    anchor, anchor_to = _anchor(anchor, start, backend)
    return RunSettings(
        objective=objective, seeds=tuple(seeds), preset=preset, steps=steps,
        schedule=schedule, jitter=bool(jitter), stride=stride, rho=rho,
        context=Context(rho=rho, a_hat=a_hat),
        moment=parameterization.moment if moment is None else moment,
        check_every=check_every, specs=specs, streams=streams,
        weights={k: streams[k].weights(specs[k].shape) for k in specs},
        used=_used_inputs(backend, specs),
        parameterization=parameterization,
        transforms=_transforms(preset.transforms if transforms is None else transforms),
        diversity=check_weight(preset.diversity if diversity is None else diversity),
        objective_scale=objective_scale,
        unit_scale=start.unit_scale,
        start=start,
        first_step=first_step,
        schedule_steps=planned,
        keep_state=bool(keep_state),
        **dict(zip(("unit_part", "free_part"), _split(objective))),
        anchor=anchor,
        anchor_to=anchor_to,
    )


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


def run_config(backend, run: RunSettings, optimizer) -> dict:
    """The run's config, as :attr:`Result.config` records it: enough to rerun it.

    Parameters
    ----------
    backend : Backend
    run : RunSettings
    optimizer : Optimizer
        The run's Adam, for its settings.

    Returns
    -------
    dict
    """
    details = dict(backend.describe()) if hasattr(backend, "describe") else {}
    objective = run.objective
    per = getattr(objective, "objectives", None)
    return {
        "stviz_version": __version__,
        "backend": backend.name,
        "model": details.get("model"),
        "layer": details.get("layer"),
        "backend_details": details,
        "objective": objective.describe(),
        "objectives": [o.describe() for o in per] if per else [objective.describe()] * run.batch,
        "batch": run.batch,
        "seeds": list(run.seeds),
        "preset": run.preset.to_dict(),
        "steps": run.steps,
        "init": dict(run.start.origin),
        "learning_rate": run.schedule.to_dict(),
        "optimizer": optimizer.config,
        "jitter": {"enabled": run.jitter, "stride": run.stride, "mode": "roll (wraps around)"},
        "parameterization": run.parameterization.to_dict(),
        "transforms": dict(run.transforms.to_dict(), drawn_from=_TRANSFORM_SEEDS),
        "diversity": {"weight": run.diversity, "of": "Gram matrices of the target layer's "
                      "activations (mean cosine with the other visualizations)"},
        "rho": run.rho,
        "a_hat": run.context.a_hat,
        "objective_scale": {"mode": run.objective_scale,
                            "applied": "auto" if run.auto_scaled else "paper",
                            "statistic": STATISTIC if run.auto_scaled else "1/(rho^2 a_hat)",
                            **({"scale_free": "feature_match terms: never scaled (already "
                                "normalized by ||A0||^2)"} if run.free_part is not None else {})},
        **({"plan": {"first_step": run.first_step, "schedule_steps": run.plan_steps}}
           if (run.first_step, run.plan_steps) != (0, run.steps) else {}),
        **({"anchor": {"weight": run.anchor, "inputs": sorted(run.anchor_to),
                       "to": "the clip the run started from (config['init'])",
                       "term": ANCHOR_TERM}} if run.anchor_to else {}),
        "optimized_inputs": sorted(run.used),
        "inputs": {k: _input_config(run, k) for k in sorted(run.specs)},
        "dtype": _name(backend.dtype),
        "device": str(backend.device),
    }


_TRANSFORM_SEEDS = ("numpy: one uniform per kind and step from each visualization's seed's "
                    "third SeedSequence child")


# -- validation ----------------------------------------------------------------


def _objective_scale(value):
    if value not in SCALES:
        raise ValueError(f"objective_scale must be one of {', '.join(SCALES)}, got {value!r}")
    return value


def _transforms(value):
    if isinstance(value, Transforms):
        return value
    if isinstance(value, Mapping):
        return Transforms.from_dict(value)
    raise TypeError(f"transforms must be a stviz_core.transforms.Transforms or its to_dict(), "
                    f"got {value!r}")


def _schedule(lr):
    if isinstance(lr, numbers.Real) and not isinstance(lr, bool):
        return Constant(float(lr))
    if not callable(lr) or not hasattr(lr, "to_dict"):
        raise TypeError(
            "learning_rate must be a number or a schedule from stviz_core.optim "
            f"(Constant, Exponential, Piecewise), got {lr!r}"
        )
    return lr


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
        seeds = [_seed(s) for s in seed]
        if not seeds:
            raise ValueError("seed is an empty sequence")
        if n_obj is not None and len(seeds) != n_obj:
            raise ValueError(f"{len(seeds)} seeds for {n_obj} objectives; give one seed or one each")
        return seeds
    return [_seed(seed)] * (n_obj or 1)


def _seed(s):
    if isinstance(s, bool) or not isinstance(s, (numbers.Integral, np.integer)) or s < 0:
        raise TypeError(f"a seed is a non-negative integer, got {s!r}")
    return int(s)


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
    shape = getattr(backend, "activation_shape", None)
    try:
        return int(shape[-1]) if shape else None
    except (TypeError, ValueError, IndexError):
        return None


def _descriptions(objective, batch) -> list:
    """Each visualization's objective described (as the config records them)."""
    per = getattr(objective, "objectives", None)
    return [o.describe() for o in per] if per else [objective.describe()] * batch


def _layer(backend) -> str:
    layer = getattr(backend, "layer", None)
    return f"layer {layer!r}" if layer else "the target layer"


def _objective_units(objective):
    """``(channel, objective)`` of every unit term of ``objective`` (sums and per-item batches walked)."""
    stack = [objective]
    while stack:
        o = stack.pop()
        if getattr(o, "terms", None) is not None:
            stack.extend(term for _, term in reversed(o.terms))
        elif getattr(o, "objectives", None) is not None:
            stack.extend(reversed(o.objectives))
        elif isinstance(getattr(o, "c", None), int):
            yield o.c, o


def _check_units(objective, channels, backend) -> None:
    """Refuse units past the layer's channel count before anything is allocated for them."""
    if channels is None:
        return
    bad = sorted({c for c, _ in _objective_units(objective) if c >= channels})
    if bad:
        listed = ", ".join(map(str, bad[:5])) + (f", ... ({len(bad)} in all)" if len(bad) > 5 else "")
        what = f"channel {listed} is" if len(bad) == 1 else f"channels {listed} are"
        layer = getattr(backend, "layer", None)
        raise ValueError(f"{what} out of range: the layer has {channels} channels "
                         f"(0..{channels - 1})" + (f" [layer {layer!r}]" if layer else ""))


def _anchor(weight, start, backend):
    """``(weight, {input: clip on the device})`` of the pixel-distance term; ``(0.0, {})`` without."""
    weight = 0.0 if weight is None else non_negative(weight, "anchor")
    if weight == 0:
        return 0.0, {}
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
    return weight, {k: from_numpy(v, backend.xp, dtype=backend.dtype, device=backend.device)
                    for k, v in sorted(kept.items())}


def _split(objective):
    """``(unit_part, free_part)`` for :class:`RunSettings`: ``(None, None)`` without scale-free terms
    (the run then uses ``objective`` itself, whose cached cotangents stay with it)."""
    unit, free = split_scale_free(objective)
    return (None, None) if free is None else (unit, free)


def _check_codes(objective, backend, batch) -> None:
    """Refuse feature-matching codes of another layer, shape or batch than the run's."""
    shape = getattr(backend, "activation_shape", None)
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
    if (rho is None or stride is None) and hasattr(backend, "receptive_field"):
        rf = backend.receptive_field()
    rho = positive(rho if rho is not None else (rf[0] if rf else 1.0), "rho")
    stride = int(non_negative(stride if stride is not None else (rf[1] if rf else 0), "stride"))
    return rho, stride


def _used_inputs(backend, specs):
    """Inputs the target layer depends on (``backend.used_inputs`` when it says; else all)."""
    used = getattr(backend, "used_inputs", None)
    used = set(specs) if not used else set(used) & set(specs)
    return tuple(sorted(used or specs))  # a fixed order: the float sums over inputs must not vary


# -- the config ----------------------------------------------------------------


def _input_config(run, k):
    spec, stream = run.specs[k], run.streams[k]
    return {
        "shape": list(spec.shape),
        "role": spec.role,
        "bound": stream.bound,
        "alpha": stream.alpha,
        "kappa": stream.kappa,
        "gamma": stream.gamma,
        "lambda_norm": run.weights[k][0],
        "lambda_tv": run.weights[k][1],
    }


def _name(obj):
    text = str(obj)
    return text.rsplit(".", 1)[-1].strip("'>")
