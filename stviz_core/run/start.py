"""Where an ascent starts: noise (the paper's), a given clip, or a previous :class:`Result` continued.

``ascend(..., init=...)`` takes

* nothing (``None``): every input starts from the parameterization's noise,
  drawn from the visualization's seed, as the paper and Mahendran and
  Vedaldi start;
* canonical inputs, ``{name: (N or 1, T, H, W, C)}`` (or ``(T, H, W, C)``),
  plain or wrapped in a :class:`Clip` that names where they came from (a
  video file read by ``stviz_adapters.clips``, a result's inputs): the run
  starts from them. Inputs left out start from noise. Each input is checked
  against the backend's (names, ``(T, H, W, C)``, one clip or one per
  visualization, finite values); pixel vectors outside the hard bound are
  projected onto it, with a warning and a ``config["init"]["projected"]``
  entry. The pixel and Fourier parameterizations take such a start (the
  Fourier map is inverted exactly); maco does not (a clip has no phases under
  its fixed amplitude spectrum) and is refused with that reason;
* a :class:`Result`: the run **continues** it. Its inputs, seeds (unless
  ``seed=`` is given), automatic objective scale and position in the
  learning-rate schedule carry over: this run's steps are the steps
  ``first_step .. first_step + steps - 1`` of a plan of ``schedule_steps``
  steps, whose jitter offsets and transforms are drawn for the whole plan
  from the seeds and sliced, so a continuation sees the offsets, transforms
  and learning rates the uninterrupted run would have seen. Adam's moments
  (and a non-pixel parameterization's parameters, and an anchor's clip) carry
  over when the result was made with ``keep_state=True``; then 50 steps and a
  continuation of 50 equal 100 steps exactly, provided the first run was
  planned for the whole length (``schedule_steps=100``: a decaying schedule
  and the transforms' draws depend on it). Without the kept state Adam
  restarts from zero moments at the continuation (``config["init"]
  ["optimizer_state"] = "restarted"``): its first steps are then about the
  learning rate in every pixel, where the uninterrupted run's are damped by
  the moments it had gathered. The continuation must have the result's
  objectives, batch, inputs, layer and parameterization; to start a *new* run
  from a result's inputs, pass ``init=Clip(result.inputs, source=...)``.

The config records the start under ``"init"``: its kind (``"noise"``,
``"clip"`` or ``"result"``), its source, the inputs it gave and those left to
noise, and what was projected.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Mapping, Optional

import numpy as np

from .._xp import to_numpy
from ..result import Result

__all__ = ["Clip", "Start", "NOISE", "plan_start", "check_inputs", "STATE_KEYS"]

#: the kinds of start ``config["init"]["kind"]`` names
KINDS = ("noise", "clip", "result")
#: prefixes of :attr:`Result.state` entries: Adam's moments, a parameterization's parameters, an anchor's clip
STATE_KEYS = ("adam/mu/", "adam/nu/", "params/", "anchor/")
#: relative excess over the bound taken as rounding, not as outside (a projected input in float32)
BOUND_TOLERANCE = 1e-5


@dataclass(frozen=True)
class Clip:
    """Canonical inputs to start from, with where they came from.

    Parameters
    ----------
    inputs : mapping of str to array
        ``{name: (N or 1, T, H, W, C)}`` (a ``(T, H, W, C)`` array is one clip)
        in any array-API library; copied to float64 on the host.
    source : str
        What they are (a file path, ``"arrays"``, ...), recorded in the config.
    details : mapping, optional
        More to record (frames read, first frame, resizing): JSON values.
    """

    inputs: Mapping
    source: str = "arrays"
    details: Mapping = field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.inputs, Mapping) or not self.inputs:
            raise TypeError(f"Clip.inputs must be a non-empty mapping of input name to array, got "
                            f"{type(self.inputs).__name__}")
        arrays = {}
        for name, value in self.inputs.items():
            if not isinstance(name, str):
                raise TypeError(f"Clip input names are strings, got {name!r}")
            try:
                array = np.asarray(to_numpy(value), dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"init input {name!r} is not a numeric array ({exc})") from None
            arrays[name] = array[None] if array.ndim == 4 else array
        object.__setattr__(self, "inputs", arrays)
        object.__setattr__(self, "source", str(self.source))
        object.__setattr__(self, "details", dict(self.details))


@dataclass(frozen=True)
class Start:
    """A planned start (made by :func:`plan_start`).

    Attributes
    ----------
    kind : {"noise", "clip", "result"}
    inputs : dict of str to ndarray
        The given inputs, float64 ``(N, T, H, W, C)`` (broadcast to the batch,
        projected into the bound); inputs absent here start from noise.
    origin : dict
        ``config["init"]``.
    first_step : int
        Steps the continued run had done before this one (0 for a new run).
    schedule_steps : int or None
        The continued run's plan length, when it had one.
    state : dict of str to ndarray
        The continued result's :attr:`Result.state` (empty without one).
    optimizer_count : int
        Adam's update count in ``state``.
    unit_scale : tuple of float or None
        The continued run's automatic objective scale.
    """

    kind: str = "noise"
    inputs: Mapping = field(default_factory=dict)
    origin: Mapping = field(default_factory=lambda: {"kind": "noise"})
    first_step: int = 0
    schedule_steps: Optional[int] = None
    state: Mapping = field(default_factory=dict)
    optimizer_count: int = 0
    unit_scale: Optional[tuple] = None

    @property
    def continued(self) -> bool:
        """Whether this start continues a previous result."""
        return self.kind == "result"

    def adam_state(self, names) -> Optional[dict]:
        """``{"mu": {...}, "nu": {...}}`` for ``names`` when the kept state holds them all, else None."""
        if not all(f"adam/mu/{k}" in self.state and f"adam/nu/{k}" in self.state for k in names):
            return None
        return {"mu": {k: self.state[f"adam/mu/{k}"] for k in names},
                "nu": {k: self.state[f"adam/nu/{k}"] for k in names}}


NOISE = Start()


def previous_result(init) -> Optional[Result]:
    """``init`` when it is a :class:`Result` (a run to continue), else ``None``."""
    return init if isinstance(init, Result) else None


def plan_start(init, *, specs, bounds, batch, parameterization, objectives, layer=None,
               objective_scale="auto") -> Start:
    """Validate ``init`` against the backend's inputs; the :class:`Start` of the run.

    Parameters
    ----------
    init : None, mapping, Clip or Result
        See the module notes.
    specs : mapping of str to InputSpec
        The backend's inputs.
    bounds : mapping of str to float
        Each input's hard bound.
    batch : int
        Visualizations in the run.
    parameterization : Parameterization
    objectives : list of str
        Each visualization's objective, described (a continuation must match them).
    layer : str, optional
        The backend's target layer (a continuation must match it).
    objective_scale : str
        This run's ``objective_scale`` (a continuation reuses the result's automatic scale).

    Raises
    ------
    ValueError
        Inputs the model does not take, a wrong shape (the expected one named),
        a batch that fits neither one clip nor one per visualization, non-finite
        values, a parameterization that takes no init, or a result that is not
        a continuation of this run (what differs named).
    TypeError
        ``init`` of another kind.
    """
    if init is None:
        return NOISE
    if isinstance(init, Result):
        return _continuation(init, specs=specs, bounds=bounds, batch=batch,
                             parameterization=parameterization, objectives=objectives, layer=layer,
                             objective_scale=objective_scale)
    if isinstance(init, Mapping):
        init = Clip(init)
    if not isinstance(init, Clip):
        raise TypeError("init must be None (noise), canonical inputs {name: (N or 1, T, H, W, C)}, "
                        "a stviz_core.Clip or a Result to continue; got "
                        f"{type(init).__name__}")
    if not getattr(parameterization, "takes_init", False):
        raise ValueError(_refusal(parameterization))
    inputs = check_inputs(init.inputs, specs, batch)
    inputs, projected = _projected(inputs, bounds)
    origin = {"kind": "clip", "source": init.source, **init.details,
              "inputs": sorted(inputs), "noise": sorted(set(specs) - set(inputs))}
    if projected:
        origin["projected"] = projected
    return Start("clip", inputs, origin)


def _refusal(parameterization) -> str:
    reason = ("its output is z-scored or squashed (standardize/squash), which has no inverse"
              if getattr(parameterization, "inverts", False) else
              "it optimizes phases under a fixed amplitude spectrum")
    return (f"the {parameterization.name!r} parameterization cannot start from a given clip: "
            f"{reason}, so a clip has no exact parameters; init= is taken by the 'pixel' and "
            "'fourier' parameterizations without squash or standardize (or continue a "
            f"{parameterization.name} Result saved with keep_state=True)")


def _shapes(specs) -> str:
    return ", ".join(f"{k} {tuple(s.shape)}" for k, s in sorted(specs.items()))


def check_inputs(given, specs, batch, what="init") -> dict:
    """The given inputs as float64 ``(batch, T, H, W, C)``, or the error that says what is wrong.

    Parameters
    ----------
    given : mapping of str to ndarray
        float64 ``(N or 1, T, H, W, C)`` (a :class:`Clip`'s inputs).
    specs : mapping of str to InputSpec
    batch : int
    what : str
        What the inputs are, in messages (``"init"``, ``"clip"``).

    Raises
    ------
    ValueError
        An input the model does not take, a shape other than the model's (named),
        a batch that is neither 1 nor ``batch``, non-finite values.
    """
    unknown = sorted(set(given) - set(specs))
    if unknown:
        raise ValueError(f"{what} has input(s) {', '.join(map(repr, unknown))} the model does not "
                         f"take; its inputs (T, H, W, C) are: {_shapes(specs)}")
    out = {}
    for name in sorted(given):
        x, want = given[name], tuple(specs[name].shape)
        if x.ndim != 5 or tuple(x.shape[1:]) != want:
            raise ValueError(f"{what} input {name!r} has shape {tuple(x.shape)}; the model takes "
                             f"(N or 1, {', '.join(map(str, want))}) for it: (N or 1, T, H, W, C) "
                             f"with (T, H, W, C) = {want}")
        if x.shape[0] not in (1, batch):
            raise ValueError(f"{what} input {name!r} holds {x.shape[0]} clips for {batch} "
                             f"visualization(s): give 1 (shared by all) or {batch} (one each)")
        if not np.isfinite(x).all():
            raise ValueError(f"{what} input {name!r} holds {int((~np.isfinite(x)).sum())} non-finite "
                             "value(s) (NaN or inf)")
        out[name] = np.ascontiguousarray(np.broadcast_to(x, (batch, *want)), dtype=np.float64)
    return out


def _projected(inputs, bounds):
    """Inputs with every pixel vector inside its bound, and what was moved (warned about)."""
    out, projected = {}, {}
    for name, x in inputs.items():
        norms = np.sqrt((x * x).sum(axis=-1))
        outside = norms > bounds[name] * (1 + BOUND_TOLERANCE)
        if outside.any():
            fraction, largest = float(outside.mean()), float(norms.max())
            projected[name] = {"fraction": fraction, "largest_norm": largest,
                               "bound": float(bounds[name])}
            warnings.warn(f"init: {100 * fraction:.3g}% of the pixels of input {name!r} lie "
                          f"outside the hard bound B = {bounds[name]:g} (largest norm "
                          f"{largest:.4g}); they are projected onto it "
                          "(recorded in config['init']['projected'])", UserWarning, stacklevel=5)
            scale = np.where(outside, bounds[name] / np.where(outside, norms, 1.0), 1.0)
            x = x * scale[..., None]
        out[name] = x
    return out, projected


def _continuation(result, *, specs, bounds, batch, parameterization, objectives, layer,
                  objective_scale) -> Start:
    config = result.config
    if config.get("completed") is False:
        raise ValueError(f"the result stopped at step {config.get('stopped_at_step')} on a "
                         "non-finite value and cannot be continued; start a new run from its "
                         "inputs with init=stviz_core.Clip(result.inputs)")
    new_run = "; to start a new run from its inputs, pass init=stviz_core.Clip(result.inputs)"
    if set(result.inputs) != set(specs):
        raise ValueError(f"the result has inputs {sorted(result.inputs)}, the model "
                         f"{sorted(specs)}: it is not a run of this model{new_run}")
    for name, spec in specs.items():
        if tuple(result.inputs[name].shape[1:]) != tuple(spec.shape):
            raise ValueError(f"the result's input {name!r} is {tuple(result.inputs[name].shape[1:])} "
                             f"per visualization; the model takes {tuple(spec.shape)}{new_run}")
    if len(result) != batch:
        raise ValueError(f"the result holds {len(result)} visualization(s), this run {batch}: "
                         "continue it with its objectives (and seeds)" + new_run)
    recorded = config.get("objectives")
    if recorded is not None and list(recorded) != list(objectives):
        raise ValueError(f"init=result continues that run, whose objectives are {recorded}; this "
                         f"run's are {list(objectives)}: pass the same objectives{new_run}")
    if layer is not None and config.get("layer") not in (None, layer):
        raise ValueError(f"the result is a run at layer {config.get('layer')!r}, this backend's "
                         f"layer is {layer!r}{new_run}")
    recorded_param = (config.get("parameterization") or {"name": "pixel"}).get("name")
    if recorded_param != parameterization.name:
        raise ValueError(f"the result optimized the {recorded_param!r} parameterization, this run "
                         f"{parameterization.name!r}: continue with parameterization="
                         f"{recorded_param!r}{new_run}")
    state = dict(getattr(result, "state", {}) or {})
    if not getattr(parameterization, "takes_init", False) and not all(
            f"params/{k}" in state for k in specs):
        raise ValueError(_refusal(parameterization))
    inputs = {k: np.asarray(v, np.float64) for k, v in result.inputs.items()}
    inputs, projected = _projected(inputs, bounds)
    plan = config.get("plan") or {}
    first = int(plan.get("first_step", 0)) + int(config.get("steps", 0))
    planned = plan.get("schedule_steps")
    kept = (config.get("optimizer_state") or {})
    scale = None
    applied = (config.get("objective_scale") or {}).get("applied")
    if objective_scale == "auto" and applied == "auto":
        factors = [q.get("scale") for q in config.get("quality") or []]
        if len(factors) == batch and all(isinstance(f, (int, float)) for f in factors):
            scale = tuple(float(f) for f in factors)
    origin = {"kind": "result", "source": str(config.get("source", "Result")),
              "steps_done": first, "optimizer_state": "restored" if state else "restarted",
              "objective_scale": "continued" if scale is not None else "measured",
              "inputs": sorted(inputs), "noise": []}
    if projected:
        origin["projected"] = projected
    return Start("result", inputs, origin, first_step=first,
                 schedule_steps=None if planned is None else int(planned), state=state,
                 optimizer_count=int(kept.get("count", 0)), unit_scale=scale)
