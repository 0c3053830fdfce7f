"""One step of the ascent, in its parts.

The loop (:func:`stviz_core.ascend`) runs, for each step: :func:`objective_gradients`
(jitter and transform the inputs, read the target layer's activations, form the
objective's cotangent and the diversity term's, pull them back through the
backend's vector-Jacobian product, undo the transforms and the jitter on the
gradient with their adjoints), :func:`regularizer_gradients` (eq. 2 and 3 with
their closed-form gradients) and :func:`adam_step` (the gradient pulled back to
the parameters, Adam's update, then the parameterization's constraint: every
pixel of the next input inside the hard bound). Inputs are dicts of
name -> array in the canonical ``(N, T, H, W, C)`` layout.
"""

from __future__ import annotations

import numpy as np

from .. import jitter as _jitter
from .._xp import array_device, from_numpy, namespace, to_numpy
from ..diversity import gram_similarity_value_grad
from ..objective_tree import value_and_cotangent
from ..optim import apply_updates
from ..regularizers import (
    anchor_value_grad,
    norm_bound_unchecked,
    norm_bound_value_grad_unchecked,
    total_variation_unchecked,
    total_variation_value_grad_unchecked,
)
from ..backend import backend_member
from ..transforms import WarpPlan, step_warps
from . import fused as _fused
from .planning import RunSettings

__all__ = ["objective_gradients", "regularizer_gradients", "penalties", "adam_step",
           "scale_objective", "objective_terms", "warp_plan"]


def scale_objective(run: RunSettings, value, cotangent, xp):
    """``value`` ``(N,)`` and ``cotangent`` ``(N, ...)`` times ``run.unit_scale`` (if set).

    The per-visualization factors of ``objective_scale="auto"``
    (:mod:`stviz_core.quality`); unchanged when ``run.unit_scale`` is ``None``.
    """
    if run.unit_scale is None:
        return value, cotangent
    s = _unit_scale(run.unit_scale, xp, value.dtype, array_device(value))
    return value * s, cotangent * xp.reshape(s, (-1,) + (1,) * (cotangent.ndim - 1))


def objective_terms(run: RunSettings, acts, xp, context=None):
    """The run's objective value ``(N,)`` and cotangent at ``acts``, with ``run.unit_scale`` on the
    unit terms only (feature-matching terms are scale-free: :func:`stviz_core.objective_tree.split_scale_free`)."""
    ctx = run.context if context is None else context
    if run.free_part is None:
        return scale_objective(run, *value_and_cotangent(run.objective, acts, ctx), xp)
    value, cot = value_and_cotangent(run.free_part, acts, ctx)
    if run.unit_part is None:
        return value, cot
    unit_value, unit_cot = scale_objective(run, *value_and_cotangent(run.unit_part, acts, ctx), xp)
    return unit_value + value, unit_cot + cot


_SCALES: dict = {}


def _unit_scale(factors, xp, dtype, device):
    """``factors`` on the device, copied there once per run (not at every step)."""
    key = (factors, id(xp), str(dtype), str(device))
    if key not in _SCALES:
        if len(_SCALES) >= 8:
            _SCALES.clear()
        _SCALES[key] = from_numpy(np.asarray(factors), xp, dtype=dtype, device=device)
    return _SCALES[key]


def objective_gradients(backend, run: RunSettings, x, offsets, *, draws=None, first=False,
                        warps=None):
    """The objective at the moved inputs and its gradient, moved back, per optimized input.

    Parameters
    ----------
    backend : Backend
    run : RunSettings
    x : dict of str to array
        The inputs of this step (all of them; only ``run.used`` are jittered).
    offsets : array or None
        This step's ``(N, 2)`` jitter offsets (numpy, or better on the backend's
        device: :func:`stviz_core.jitter.shift`); ``None`` for no jitter.
    draws : Draws, optional
        This step's transforms (:meth:`stviz_core.transforms.Draws.at`); none if omitted.
    first : bool
        Check the shapes of what the backend returns (done on the first step).
    warps : dict, optional
        This step's :class:`~stviz_core.transforms.Warp` per input (a run's
        :class:`~stviz_core.transforms.WarpPlan`: every step's numbers went to the device
        before step 0); made from ``draws`` here if omitted.

    Returns
    -------
    value : array
        Shape ``(N,)``.
    grads : dict of str to array
        The gradient of the objective minus the diversity term for each input in ``run.used``.
    terms : dict of str to array
        ``{"diversity": (N,)}`` when ``run.diverse``, else empty.
    """
    xp = backend.xp
    # transforms, and a canvas's crop (x[k] larger than the clip: docs/architecture.md sec. 4)
    if warps is None:
        warps = step_warps(run.transforms, draws, {k: run.specs[k] for k in run.used}, x,
                           resample=backend_member(backend, "resample"))
    shifts = None if offsets is None else _jitter.StepShift(offsets, xp)
    moved = {k: _move(v, shifts, warps.get(k), xp) if k in run.used else v for k, v in x.items()}
    acts = backend.activations(moved)
    if first:
        _check_activations(acts, run.batch, backend)
    value, cotangent = objective_terms(run, acts, xp)
    terms = {}
    if run.diverse:
        similarity, grad = gram_similarity_value_grad(acts, xp=xp)
        cotangent = cotangent - run.diversity * grad
        terms["diversity"] = run.diversity * similarity
    pulled = backend.vjp(cotangent)
    if first:
        _check_grads(pulled, moved, backend)
    return value, {k: _move_back(pulled[k], shifts, warps.get(k), xp) for k in run.used}, terms


def warp_plan(backend, run: RunSettings, draws, x) -> WarpPlan:
    """Every step's transforms (and a canvas's crops) of the inputs ``run.used``, their numbers
    put on the backend's device once (``x``: the inputs of step 0, canvases where they are)."""
    return WarpPlan(run.transforms, draws, {k: run.specs[k] for k in run.used},
                    {k: tuple(x[k].shape[1:]) for k in run.used}, xp=backend.xp,
                    dtype=backend.dtype, device=backend.device,
                    resample=backend_member(backend, "resample"))


def _move(x, shifts, warp, xp):
    x = x if shifts is None else shifts.shift(x)
    return x if warp is None else warp.apply(x, xp)


def _move_back(g, shifts, warp, xp):
    g = g if warp is None else warp.adjoint(g, xp)
    return g if shifts is None else shifts.unshift(g)


def regularizer_gradients(run: RunSettings, x, xp):
    """Weighted penalties of eq. 2 and 3 and their gradients, per optimized input.

    Returns
    -------
    penalties : dict of str to array
        ``"<input>/norm"`` and ``"<input>/tv"``, each of shape ``(N,)``, and
        ``"<input>/anchor"`` for an anchored input (:attr:`RunSettings.anchor`).
    grads : dict of str to array
        The penalties' summed gradient for each input in ``run.used``.
    """
    settings = tuple(_penalty_settings(run, k) for k in run.used)
    regularize = _fused.regularize
    if run.compiled is not None:  # the backend's compiled graph (stviz_core.run.fused)
        settings, regularize = _fused.static(settings), run.compiled(regularize)
    values, grads = regularize(xp, settings, tuple(x[k] for k in run.used),
                               tuple(run.anchor_to.get(k) for k in run.used))
    penalty = {f"{k}/{name}": value for k, terms in zip(run.used, values)
               for name, value in zip(("norm", "tv", "anchor"), terms)}
    return penalty, dict(zip(run.used, grads))


def _penalty_settings(run: RunSettings, k):
    """``(lam_norm, lam_tv, alpha, kappa, gamma, bound, anchor_weight)`` of input ``k``
    (:func:`stviz_core.run.fused.regularize`; ``anchor_weight`` None without an anchor)."""
    reg = run.streams[k]
    weight = run.anchor if k in run.anchor_to else None
    return (*run.weights[k], reg.alpha, reg.kappa, reg.gamma, reg.bound, weight)


def penalties(run: RunSettings, x, names, xp) -> dict:
    """Weighted penalties of eq. 2 and 3 (values only) of the inputs ``names``.

    Returns
    -------
    dict of str to array
        ``"<input>/norm"`` and ``"<input>/tv"``, each of shape ``(N,)``.
    """
    out = {}
    for k in names:
        reg = run.streams[k]
        out[f"{k}/norm"] = run.weights[k][0] * norm_bound_unchecked(x[k], reg.alpha, xp)
        out[f"{k}/tv"] = run.weights[k][1] * total_variation_unchecked(x[k], reg.kappa,
                                                                       reg.gamma, xp)
        if k in run.anchor_to:
            out[f"{k}/anchor"] = anchor_value_grad(x[k], run.anchor_to[k], reg.bound, xp,
                                                   weight=run.anchor, grad=False)[0]
    return out


def adam_step(run: RunSettings, fields, optimizer, state, grads, params, x, step):
    """Adam's update of the optimized parameters, then the next inputs, inside the bound.

    Parameters
    ----------
    run : RunSettings
    fields : dict of str to Field
        Each input's parameterization (:mod:`stviz_core.param`).
    optimizer : Optimizer
    state : AdamState
    grads : dict of str to array
        Gradient of the loss (penalties minus objective) w.r.t. each input in ``run.used``.
    params, x : dict of str to array
        All parameters and inputs of this step.
    step : int

    Returns
    -------
    params, x : dict of str to array
        All parameters and inputs of the next step; every pixel vector of ``x``
        inside the bound (:meth:`Field.constrain`).
    state : AdamState
    """
    pulled = {k: fields[k].vjp(params[k], grads[k]) for k in run.used}
    if run.compiled is not None:  # Adam in the backend's compiled graph (stviz_core.run.fused)
        stepped, state = _fused.adam_update(run, optimizer, state, pulled, params, step,
                                            _xp_of(pulled))
    else:
        updates, state = optimizer.update(pulled, state, step)
        stepped = apply_updates({k: params[k] for k in run.used}, updates)
    params, x = dict(params), dict(x)
    for k in run.used:
        params[k], x[k] = fields[k].constrain(stepped[k])
    return params, x, state


def _xp_of(arrays):
    return namespace(*arrays.values())


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


def gradient_norms(backend, run, x, context=None):
    """Objective value and the gradient norms of the unit term and of the regularizers.

    Parameters
    ----------
    backend : Backend
    run : RunSettings
    x : dict of str to array
        Inputs (not moved: no jitter, no transforms).
    context : Context, optional
        Objective normalization; ``run.context``'s if omitted.

    Returns
    -------
    value, unit, reg, ref : ndarray
        Each ``(N,)`` float64 on the host; ``unit`` and ``value`` include ``run.unit_scale``;
        ``ref`` is the norm of the norm penalty's gradient alone (the automatic scale's reference).
    """
    xp = backend.xp
    ctx = run.context if context is None else context
    acts = backend.activations(x)
    _check_activations(acts, run.batch, backend)
    value, cot = objective_terms(run, acts, xp, ctx)
    grads = backend.vjp(cot)
    _check_grads(grads, x, backend)
    _, reg = regularizer_gradients(run, x, xp)
    ref = {k: run.weights[k][0] * norm_bound_value_grad_unchecked(x[k], run.streams[k].alpha, xp)[1]
           + run.weights[k][1] * total_variation_value_grad_unchecked(x[k], 1.0, 0.0, xp)[1]
           for k in run.used}
    return (to_numpy(value).astype(np.float64), _norms(grads, run.used),
            _norms(reg, run.used), _norms(ref, run.used))


def _norms(grads, names):
    sq = 0.0
    for k in names:
        g = to_numpy(grads[k]).astype(np.float64)
        sq = sq + (g.reshape(g.shape[0], -1) ** 2).sum(axis=1)
    return np.sqrt(sq)
