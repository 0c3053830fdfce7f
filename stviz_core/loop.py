"""The ascent loop: regularized activation maximization for N visualizations at once."""

from __future__ import annotations

import numbers
from typing import Optional, Sequence

import numpy as np

from . import jitter as _jitter
from . import presets as _presets
from ._checks import non_negative, positive, positive_int
from ._xp import from_numpy, to_numpy
from .backend import input_specs
from .initialization import uniform_noise
from .objectives import Context, Objective, per_item
from .optim import Constant, adam, apply_updates
from .regularizers import (
    _norm_bound,
    _norm_bound_value_grad,
    _project_to_bound,
    _total_variation,
    _total_variation_value_grad,
)
from .result import Result

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


def ascend(
    backend,
    objective,
    *,
    preset=None,
    steps: Optional[int] = None,
    learning_rate=None,
    seed=0,
    jitter: bool = True,
    stride: Optional[int] = None,
    rho: Optional[float] = None,
    a_hat=None,
    moment: str = "pixel",
    check_every: int = 10,
    callback=None,
) -> Result:
    """Maximize ``objective`` over the backend's inputs (eq. 1 of the paper).

    Each step: shift the inputs by the step's jitter offsets, read the target
    layer's activations, form the objective's cotangent, pull it back through
    the backend's vector-Jacobian product, shift the gradient back, add the
    regularizers' gradients, take an Adam step and project every pixel back
    inside the hard bound. An input the target layer does not depend on
    (``backend.used_inputs`` leaves it out, e.g. the flow stack for a layer of
    the appearance tower) stays as initialized and costs no ascent work; the
    config lists the optimized ones under ``"optimized_inputs"``.

    Parameters
    ----------
    backend : Backend
        See :mod:`stviz_core.backend`.
    objective : Objective or sequence of Objective
        One objective for the whole batch, or one per visualization.
    preset : Preset, optional
        Regularization and optimization defaults; :func:`presets.paper` if omitted.
    steps : int, optional
        Overrides ``preset.steps``.
    learning_rate : float or schedule, optional
        Overrides ``preset.learning_rate``.
    seed : int or sequence of int
        One seed for every visualization or one each; visualization ``n`` with
        seed ``s`` starts from the same noise and sees the same jitter as a
        single run with seed ``s``.
    jitter : bool
        Shift the input randomly by ``0..stride`` pixels each step.
    stride, rho : int, float, optional
        Jitter stride and receptive-field size of the layer; by default from
        ``backend.receptive_field()`` when it has one, else stride 0 and rho 1.
    a_hat : sequence of float, optional
        Per-channel maximum activation on a validation set (eq. 1); 1 if omitted.
    moment : {"pixel", "coordinate"}
        Adam's second moment, see :func:`stviz_core.optim.adam`.
    callback : callable, optional
        Called as ``callback(step, steps)`` after every step (progress bars).
    check_every : int
        Check the trace for NaN or infinity every this many steps (each check
        waits for the device). On a non-finite value the run stops with a
        :class:`NonFiniteError` that names the step and visualization and
        carries the result up to the last good check.

    Returns
    -------
    Result
    """
    preset = _presets.paper() if preset is None else preset
    if not isinstance(preset, _presets.Preset):
        raise TypeError(f"preset must be a Preset (see stviz_core.presets), got {preset!r}")
    steps = positive_int(preset.steps if steps is None else steps, "steps")
    check_every = positive_int(check_every, "check_every")
    schedule = _schedule(preset.learning_rate if learning_rate is None else learning_rate)
    objective, n_obj = _batch_objective(objective)
    seeds = _seeds(seed, n_obj)
    n = len(seeds)
    specs = _specs(backend)
    xp, dtype, device = backend.xp, backend.dtype, backend.device

    rf = None
    if (rho is None or stride is None) and hasattr(backend, "receptive_field"):
        rf = backend.receptive_field()
    rho = positive(rho if rho is not None else (rf[0] if rf else 1.0), "rho")
    stride = int(non_negative(stride if stride is not None else (rf[1] if rf else 0), "stride"))
    ctx = Context(rho=rho, a_hat=None if a_hat is None else [float(a) for a in a_hat])

    # one generator pair per visualization: init noise and jitter never share draws
    init_rngs, jitter_rngs = zip(
        *(map(np.random.default_rng, np.random.SeedSequence(s).spawn(2)) for s in seeds)
    )
    streams = {k: preset.for_role(s.role) for k, s in specs.items()}
    x = {}
    for name in sorted(specs):
        noise = np.stack([
            uniform_noise(specs[name].shape, bound=streams[name].bound,
                          scale=preset.init_scale, rng=rng)
            for rng in init_rngs
        ])
        x[name] = from_numpy(noise, xp, dtype=dtype, device=device)
    offsets = np.stack(
        [_jitter.offsets(rng, steps, stride if jitter else 0) for rng in jitter_rngs], axis=1
    )
    weights = {k: streams[k].weights(specs[k].shape) for k in specs}

    opt = adam(learning_rate=lambda k: schedule(k, steps), moment=moment)
    used = _used_inputs(backend, specs)
    # an input the layer does not depend on is left as initialized: no jitter, no ascent work
    frozen = {}
    for k in sorted(set(specs) - set(used)):
        frozen[f"{k}/norm"] = weights[k][0] * _norm_bound(x[k], streams[k].alpha, xp)
        frozen[f"{k}/tv"] = weights[k][1] * _total_variation(x[k], streams[k].kappa,
                                                             streams[k].gamma, xp)
    state = opt.init({k: x[k] for k in used})
    trace = {key: [] for key in _trace_keys(specs)}
    make_config = lambda: _config(  # noqa: E731
        backend, objective, preset, steps, schedule, opt, seeds, jitter, stride, rho, ctx,
        specs, streams, weights, dtype, device, used)
    good = (x, 0)  # inputs of the last checked step whose trace is finite, and its index
    for step in range(steps):
        offs = offsets[step]
        acts = backend.activations(
            {k: _jitter.shift(v, offs, xp=xp) if k in used else v for k, v in x.items()})
        if step == 0:
            _check_activations(acts, n, backend)
        value = objective.value(acts, ctx)
        pulled = backend.vjp(objective.cotangent(acts, ctx))
        if step == 0:
            _check_grads(pulled, x, backend)
        grads, penalties = {}, dict(frozen)
        for k in used:
            v = x[k]
            lam_n, lam_tv = weights[k]
            reg = streams[k]
            nb, nb_grad = _norm_bound_value_grad(v, reg.alpha, xp)
            tv, tv_grad = _total_variation_value_grad(v, reg.kappa, reg.gamma, xp)
            grads[k] = lam_n * nb_grad + lam_tv * tv_grad - _jitter.unshift(pulled[k], offs, xp=xp)
            penalties[f"{k}/norm"] = lam_n * nb
            penalties[f"{k}/tv"] = lam_tv * tv
        _record(trace, value, penalties)
        if (step + 1) % check_every == 0 or step == steps - 1:
            good = _checkpoint(trace, good, x, step, make_config, objective)
        updates, state = opt.update(grads, state, step)
        stepped = apply_updates({k: x[k] for k in used}, updates)
        x = {**x, **{k: _project_to_bound(v, streams[k].bound, xp) for k, v in stepped.items()}}
        if callback is not None:
            callback(step + 1, steps)

    final = {key: [] for key in trace}
    value = objective.value(backend.activations(x), ctx)
    _record(final, value, {
        key: val for k, v in x.items() for key, val in (
            (f"{k}/norm", weights[k][0] * _norm_bound(v, streams[k].alpha, xp)),
            (f"{k}/tv", weights[k][1] * _total_variation(v, streams[k].kappa, streams[k].gamma, xp)),
        )
    })
    final_np = {k: to_numpy(vals[0]).astype(np.float64) for k, vals in final.items()}
    result = Result(_host(x), make_config(), _host_trace(trace), final_np)
    for key, values in final_np.items():
        if not np.isfinite(values).all():
            raise NonFiniteError(f"the final {key!r} is not finite: {values}", step=steps,
                                 item=int(np.argmin(np.isfinite(values))), result=result)
    return result


# -- helpers -----------------------------------------------------------------


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


def _check_activations(acts, n, backend):
    shape = tuple(getattr(acts, "shape", ()))
    if len(shape) < 2 or shape[0] != n:
        raise ValueError(
            f"backend {backend.name!r} returned activations of shape {shape}; "
            f"expected batch-first, channels-last (N={n}, ..., K)"
        )


def _check_grads(grads, x, backend):
    if set(grads) != set(x):
        raise ValueError(
            f"backend {backend.name!r} returned gradients for {sorted(grads)}, "
            f"expected {sorted(x)}"
        )
    for k in x:
        if tuple(grads[k].shape) != tuple(x[k].shape):
            raise ValueError(
                f"backend {backend.name!r}: gradient of {k!r} has shape "
                f"{tuple(grads[k].shape)}, expected {tuple(x[k].shape)} (N, T, H, W, C)"
            )


def _used_inputs(backend, specs):
    """Inputs the target layer depends on (``backend.used_inputs`` when it says; else all)."""
    used = getattr(backend, "used_inputs", None)
    used = set(specs) if not used else set(used) & set(specs)
    return tuple(sorted(used or specs))  # a fixed order: the float sums over inputs must not vary


def _trace_keys(specs):
    keys = ["objective"]
    for k in sorted(specs):
        keys += [f"{k}/norm", f"{k}/tv"]
    return keys + ["total"]


def _record(trace, value, penalties):
    trace["objective"].append(value)
    total = value
    for key in sorted(penalties):  # one summation order in every process (no set order)
        trace[key].append(penalties[key])
        total = total - penalties[key]
    trace["total"].append(total)


def _host(x):
    return {k: to_numpy(v).copy() for k, v in x.items()}


def _host_trace(trace, rows=None):
    """Trace rows ``[0, rows)`` on the host as ``(rows, N)`` float64 arrays."""
    out = {}
    for k, vals in trace.items():
        kept = [to_numpy(v) for v in vals[:rows]]
        n = to_numpy(vals[0]).shape[0]
        out[k] = np.stack(kept).astype(np.float64) if kept else np.zeros((0, n))
    return out


def _checkpoint(trace, good, x, step, make_config, objective):
    """Check the trace rows since the last checkpoint; raise with the run so far if any is not finite."""
    start = good[1]
    rows = _host_trace({k: v[start : step + 1] for k, v in trace.items()})
    for key, values in rows.items():
        bad = ~np.isfinite(values)
        if bad.any():
            row, item = map(int, np.argwhere(bad)[0])
            first = start + row
            kept_x, kept_step = good
            config = dict(make_config(), completed=False, stopped_at_step=first,
                          inputs_from_step=kept_step)
            partial = Result(_host(kept_x), config, _host_trace(trace, rows=first), {})
            units = getattr(objective, "objectives", None)
            unit = units[item].describe() if units else objective.describe()
            raise NonFiniteError(
                f"the optimization diverged at step {first}: {key!r} of visualization {item} "
                f"({unit}) is {values[row, item]}; the run so far is kept in the error's "
                f".result (inputs of step {kept_step}); lower the learning rate or check the "
                "model for NaN",
                step=first, item=item, result=partial,
            )
    return (x, step)


def _name(obj):
    text = str(obj)
    return text.rsplit(".", 1)[-1].strip("'>")


def _config(backend, objective, preset, steps, schedule, opt, seeds, jitter, stride, rho,
            ctx, specs, streams, weights, dtype, device, used):
    from . import __version__

    details = dict(backend.describe()) if hasattr(backend, "describe") else {}
    per = getattr(objective, "objectives", None)
    return {
        "stviz_version": __version__,
        "backend": backend.name,
        "model": details.get("model"),
        "layer": details.get("layer"),
        "backend_details": details,
        "objective": objective.describe(),
        "objectives": [o.describe() for o in per] if per else [objective.describe()] * len(seeds),
        "batch": len(seeds),
        "seeds": list(seeds),
        "preset": preset.to_dict(),
        "steps": steps,
        "learning_rate": schedule.to_dict(),
        "optimizer": opt.config,
        "jitter": {"enabled": bool(jitter), "stride": stride, "mode": "roll (wraps around)"},
        "rho": rho,
        "a_hat": ctx.a_hat,
        "optimized_inputs": sorted(used),
        "inputs": {
            k: {
                "shape": list(specs[k].shape),
                "role": specs[k].role,
                "bound": streams[k].bound,
                "alpha": streams[k].alpha,
                "kappa": streams[k].kappa,
                "gamma": streams[k].gamma,
                "lambda_norm": weights[k][0],
                "lambda_tv": weights[k][1],
            }
            for k in sorted(specs)
        },
        "dtype": _name(dtype),
        "device": str(device),
    }
