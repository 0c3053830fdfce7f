"""The ascent loop: regularized activation maximization for N visualizations at once.

:func:`ascend` plans the run (:func:`stviz_core.run.planning.plan_run`), binds the
parameterization to each input, draws the initial parameters, the jitter
offsets and the transforms, then steps (:mod:`stviz_core.run.step`), recording the
trace (:mod:`stviz_core.run.trace`) and checking it for non-finite values every
``check_every`` steps.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from .. import jitter as _jitter
from .. import threads as _threads
from .._xp import from_numpy, to_numpy
from ..diversity import gram_similarity
from ..optim import AdamState, adam
from ..quality import a_hat_context, auto_factors, measure
from ..regularizers import project_to_bound_unchecked
from ..result import Result
from ..transforms import Draws
from .config import run_config
from .options import RunOptions
from .planning import RunSettings, plan_run
from .start import STATE_KEYS
from .step import (adam_step, gradient_norms, objective_gradients, objective_terms, penalties,
                   regularizer_gradients, warp_plan)
from .trace import first_non_finite, host_trace, new_trace, record

__all__ = ["ascend", "NonFiniteError"]


class NonFiniteError(FloatingPointError):
    """The optimization produced NaN or infinity.

    Attributes
    ----------
    step : int
        First step whose trace holds a non-finite value.
    item : int
        The visualization it happened in.
    result : Result or None
        The run up to the last checked step before it (inputs of that step,
        trace rows before ``step``), so the work so far is not lost.
    """

    def __init__(self, message, *, step=None, item=None, result=None):
        super().__init__(message)
        self.step, self.item, self.result = step, item, result


def ascend(backend, objective, options: Optional[RunOptions] = None, **changes) -> Result:
    """Maximize ``objective`` over the backend's inputs (eq. 1 of the paper).

    Each step jitters the inputs, reads the target layer, pulls the objective's
    cotangent back through the backend's VJP, adds the regularizers' gradients,
    takes an Adam step and projects every pixel into the hard bound
    (docs/architecture.md, "One ascent step"). Inputs the layer does not depend
    on stay as initialized (``config["optimized_inputs"]`` lists the others).

    Parameters
    ----------
    backend : Backend
        See :mod:`stviz_core.backend`.
    objective : Objective or sequence of Objective
        One objective for the whole batch, or one per visualization.
    options : RunOptions, optional
        The run's options (:class:`stviz_core.RunOptions`); all defaults when omitted.
    **changes
        Run options by name, changing ``options``: ``preset`` (a Preset or its
        name, e.g. ``"fourier"``), ``steps``, ``learning_rate``, ``seed``,
        ``jitter``, ``stride``, ``rho``, ``a_hat``, ``moment``, ``check_every``,
        ``callback``, ``parameterization``, ``transforms``, ``diversity``,
        ``objective_scale``, ``init`` (start from a clip, or continue a
        :class:`Result`), ``schedule_steps``, ``keep_state``, ``anchor``; each is
        documented in :class:`~stviz_core.RunOptions`.

    Returns
    -------
    Result

    Raises
    ------
    NonFiniteError
        A non-finite value in the trace (the run up to the last good check in its ``result``).
    """
    run = plan_run(backend, objective, options, **changes)
    return _run(backend, run, run.options.callback)


def bind_fields(backend, run: RunSettings) -> dict:
    """Each input's parameterization, bound to its shape, role, bound and the backend's arrays."""
    return {k: run.parameterization.bind(spec.shape, spec.role, bound=run.streams[k].bound,
                                         xp=backend.xp, dtype=backend.dtype, device=backend.device)
            for k, spec in run.specs.items()}


def initial_inputs(backend, run: RunSettings, fields=None):
    """Initial parameters and inputs, the jitter offsets and the transforms of every step.

    Visualization ``n`` draws them from its own seed's generators (one for the
    initial parameters, one for the jitter, one for the transforms, never
    sharing draws), so it starts and moves as a single run with that seed would.

    Returns
    -------
    params, x : dict of str to array
        Per input, the parameters and the ``(N, T, H, W, C)`` input, on the
        backend's namespace, dtype and device (the same arrays for pixels).
    offsets : ndarray
        ``(steps, N, 2)`` integer offsets.
    draws : Draws or None
        The transforms' numbers, ``None`` when the run has none.
    """
    fields = bind_fields(backend, run) if fields is None else fields
    init_rngs, jitter_rngs, warp_rngs = zip(
        *(map(np.random.default_rng, np.random.SeedSequence(s).spawn(3)) for s in run.seeds)
    )
    params, x = {}, {}
    for name in sorted(run.specs):
        if name in run.start.inputs:
            params[name], x[name] = _given(backend, run, fields[name], name)
        else:
            start = fields[name].init(init_rngs, scale=run.preset.init_scale)
            params[name], x[name] = fields[name].initial(start)
    # drawn for the whole plan and sliced: a continuation sees what the uninterrupted run saw
    first, stop = run.first_step, run.first_step + run.steps
    offsets = np.stack(
        [_jitter.offsets(rng, run.plan_steps, run.stride if run.jitter else 0)[first:stop]
         for rng in jitter_rngs],
        axis=1,
    )
    draws = None
    if run.transforms.active:
        draws = run.transforms.draw(warp_rngs, run.plan_steps)
        if (first, stop) != (0, run.plan_steps):
            draws = Draws(*(getattr(draws, f.name)[first:stop] for f in dataclasses.fields(draws)))
    return params, x, offsets, draws


def _given(backend, run: RunSettings, field, name):
    """``(params, x)`` of an input the run starts from (a clip, or a continued result's input)."""
    x = from_numpy(run.start.inputs[name], backend.xp, dtype=backend.dtype, device=backend.device)
    kept = run.start.state.get(f"params/{name}")
    if run.start.continued:  # the result's inputs come out of the last step's constraint as they are
        if kept is not None:
            return from_numpy(kept, backend.xp, dtype=backend.dtype, device=backend.device), x
        return field.from_input(x), x
    x = project_to_bound_unchecked(x, run.streams[name].bound, backend.xp)  # in the working dtype
    return field.from_input(x), x


def _run(backend, run: RunSettings, callback) -> Result:
    """Run the planned ascent: initialize, step ``run.steps`` times, evaluate the final inputs."""
    xp = backend.xp
    _threads.apply(backend, run.options.threads, batch=run.batch)  # recorded in describe()
    fields = bind_fields(backend, run)
    params, x, offsets, draws = initial_inputs(backend, run, fields)
    run, start = _scaled(backend, run, x)
    optimizer = adam(learning_rate=run.learning_rate, moment=run.moment)
    # an input the layer does not depend on is left as initialized: no jitter, no ascent work
    frozen = penalties(run, x, run.frozen, xp)
    # every step's offsets go to the device once: the step reads its row there, without a transfer
    shifts = from_numpy(offsets, xp, dtype=xp.int64, device=backend.device) if offsets.any() else None
    state = _restored(optimizer.init({k: params[k] for k in run.used}), run, backend)
    trace = new_trace(run.specs, _extra_terms(run))
    good = (x, 0)  # inputs of the last checked step whose trace is finite, and its index
    plan = None  # every step's transforms: their numbers go to the device once, at step 0
    for step in range(run.steps):
        # a canvas field's whole canvas, cropped in the step (x itself without a canvas)
        net = {**x, **{k: fields[k].canvas(params[k], x[k]) for k in run.used}}
        plan = warp_plan(backend, run, draws, net) if plan is None else plan
        value, objective_grads, terms = objective_gradients(
            backend, run, net, None if shifts is None else shifts[step, ...],
            draws=None if draws is None else draws.at(step), first=step == 0,
            warps=plan.at(step))
        penalty, penalty_grads = regularizer_gradients(run, x, xp)
        record(trace, value, {**frozen, **penalty, **terms})
        if run.is_check_step(step):
            good = _checkpoint(backend, run, optimizer, trace, good, x, step)
        # the penalties are the returned clip's (a canvas's centre): placed in the canvas
        loss_grads = {k: fields[k].canvas_cotangent(penalty_grads[k]) - objective_grads[k]
                      for k in run.used}
        params, x, state = adam_step(run, fields, optimizer, state, loss_grads, params, x, step)
        if callback is not None:
            callback(step + 1, run.steps)
    return _final_result(backend, run, optimizer, x, trace, start,
                         kept=_kept_state(run, state, params) if run.keep_state else None,
                         count=state.count)


def _extra_terms(run: RunSettings) -> list:
    """Trace keys besides the objective, norm and TV: each anchored input's, and the diversity."""
    return [f"{k}/anchor" for k in sorted(run.anchor_to)] + (["diversity"] if run.diverse else [])


def _restored(state, run: RunSettings, backend):
    """Adam's state: fresh, or the continued result's moments when it kept them."""
    kept = run.start.adam_state(run.used)
    if kept is None:
        return state
    moments = {}
    for part in ("mu", "nu"):
        moments[part] = {}
        for k in run.used:
            want, got = tuple(getattr(state, part)[k].shape), tuple(kept[part][k].shape)
            if want != got:
                raise ValueError(
                    f"the continued result's Adam {part} of input {k!r} has shape {got}; this run's "
                    f"(moment {run.moment!r}) has {want}: continue with the result's moment "
                    "(its config['optimizer']['moment'])")
            moments[part][k] = from_numpy(kept[part][k], backend.xp, dtype=backend.dtype,
                                          device=backend.device)
    return AdamState(run.start.optimizer_count, moments["mu"], moments["nu"])


def _kept_state(run: RunSettings, state, params) -> dict:
    """:attr:`Result.state` of a run with ``keep_state``: what its continuation needs."""
    kept = {}
    for k in run.used:
        kept[f"{STATE_KEYS[0]}{k}"] = to_numpy(state.mu[k]).copy()
        kept[f"{STATE_KEYS[1]}{k}"] = to_numpy(state.nu[k]).copy()
    if run.parameterization.name != "pixel":
        kept.update({f"{STATE_KEYS[2]}{k}": to_numpy(params[k]).copy() for k in sorted(params)})
    for k, x0 in run.anchor_to.items():
        kept[f"{STATE_KEYS[3]}{k}"] = np.broadcast_to(to_numpy(x0), (run.batch, *run.specs[k].shape)).copy()
    return kept


def _checkpoint(backend, run, optimizer, trace, good, x, step):
    """Check the trace rows since the last checkpoint; raise with the run so far if any is not finite.

    Returns the new last good ``(inputs, step)``.
    """
    kept_x, kept_step = good
    bad = first_non_finite(trace, kept_step, step + 1)
    if bad is None:
        return (x, step)
    key, first, item, value = bad
    config = dict(run_config(backend, run, optimizer), completed=False, stopped_at_step=first,
                  inputs_from_step=kept_step)
    partial = Result(_host(kept_x), config, host_trace(trace, rows=first), {})
    unit = run.objective.per_visualization(run.batch)[item].describe()
    raise NonFiniteError(
        f"the optimization diverged at step {first}: {key!r} of visualization {item} "
        f"({unit}) is {value}; the run so far is kept in the error's "
        f".result (inputs of step {kept_step}); lower the learning rate or check the "
        "model for NaN",
        step=first, item=item, result=partial,
    )


def _scaled(backend, run, x):
    """The run with its automatic unit scale set (when it has one) and the start's gradient norms."""
    if run.auto_scaled and run.unit_scale is None and run.free_part is not None:
        # the factor of the unit terms alone; then the start of the whole, scaled objective
        units = gradient_norms(backend, dataclasses.replace(run, objective=run.unit_part,
                                                            unit_part=None, free_part=None), x)
        factors = auto_factors(units[1], units[3])
        run = dataclasses.replace(run, unit_scale=tuple(float(f) for f in factors))
        return run, gradient_norms(backend, run, x)
    start = gradient_norms(backend, run, x)
    if not run.auto_scaled or run.unit_scale is not None:  # literal, or a continuation's scale
        return run, start
    factors = auto_factors(start[1], start[3])
    return (dataclasses.replace(run, unit_scale=tuple(float(f) for f in factors)),
            (start[0] * factors, start[1] * factors, start[2], start[3]))


def _final_result(backend, run, optimizer, x, trace, start, *, kept=None, count=0) -> Result:
    """The Result: objective and penalties at the final (unjittered) inputs, checked finite;
    ``kept``: its :attr:`Result.state`, ``count``: Adam's update count."""
    xp = backend.xp
    final = new_trace(run.specs, _extra_terms(run))
    acts = backend.activations(x)
    terms = {"diversity": run.diversity * gram_similarity(acts, xp=xp)} if run.diverse else {}
    value, _ = objective_terms(run, acts, xp)
    record(final, value, {**penalties(run, x, x, xp), **terms})
    final_np = {k: to_numpy(vals[0]).astype(np.float64) for k, vals in final.items()}
    config = run_config(backend, run, optimizer)
    config["quality"] = _quality(backend, run, x, start)
    if kept is not None:
        config["optimizer_state"] = {"kept": True, "count": int(count)}
    result = Result(_host(x), config, host_trace(trace), final_np, kept or {})
    for key, values in final_np.items():
        if not np.isfinite(values).all():
            raise NonFiniteError(f"the final {key!r} is not finite: {values}", step=run.steps,
                                 item=int(np.argmin(np.isfinite(values))), result=result)
    return result


def _quality(backend, run, x, start):
    """The per-visualization quality entries (:func:`stviz_core.quality.measure`)."""
    end = gradient_norms(backend, run, x)
    ctx = a_hat_context(run)
    gain = None if ctx is None else to_numpy(
        run.objective.value(backend.activations(x), ctx)).astype(np.float64)
    factors = np.ones(run.batch) if run.unit_scale is None else np.asarray(run.unit_scale)
    entries = measure(start, end, factors, _host(x), run, gain)
    if run.units is None:  # feature matching alone: its gradient vanishes as it converges
        for entry in entries:
            entry["feature_match"] = True
    return entries


def _host(x):
    return {k: to_numpy(v).copy() for k, v in x.items()}
