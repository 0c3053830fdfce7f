"""One step of the ascent, in its parts.

The loop (:func:`stviz_core.ascend`) runs, for each step: :func:`objective_gradients`
(jitter the inputs, read the target layer's activations, form the objective's
cotangent, pull it back through the backend's vector-Jacobian product, undo the
jitter on the gradient), :func:`regularizer_gradients` (eq. 2 and 3 with their
closed-form gradients) and :func:`adam_step` (Adam's update on the negated
objective plus penalties, then every pixel projected back inside the hard bound).
All inputs are dicts of name -> array in the canonical ``(N, T, H, W, C)`` layout.
"""

from __future__ import annotations

from . import jitter as _jitter
from .optim import apply_updates
from .regularizers import (
    norm_bound_unchecked,
    norm_bound_value_grad_unchecked,
    project_to_bound_unchecked,
    total_variation_unchecked,
    total_variation_value_grad_unchecked,
)
from .run_config import RunSettings

__all__ = ["objective_gradients", "regularizer_gradients", "penalties", "adam_step"]


def objective_gradients(backend, run: RunSettings, x, offsets, *, first=False):
    """The objective at the jittered inputs and its gradient, shifted back, per optimized input.

    Parameters
    ----------
    backend : Backend
    run : RunSettings
    x : dict of str to array
        The inputs of this step (all of them; only ``run.used`` are jittered).
    offsets : ndarray
        This step's ``(N, 2)`` jitter offsets.
    first : bool
        Check the shapes of what the backend returns (done on the first step).

    Returns
    -------
    value : array
        Shape ``(N,)``.
    grads : dict of str to array
        The objective's gradient for each input in ``run.used``.
    """
    xp = backend.xp
    acts = backend.activations(
        {k: _jitter.shift(v, offsets, xp=xp) if k in run.used else v for k, v in x.items()})
    if first:
        _check_activations(acts, run.batch, backend)
    value = run.objective.value(acts, run.context)
    pulled = backend.vjp(run.objective.cotangent(acts, run.context))
    if first:
        _check_grads(pulled, x, backend)
    return value, {k: _jitter.unshift(pulled[k], offsets, xp=xp) for k in run.used}


def regularizer_gradients(run: RunSettings, x, xp):
    """Weighted penalties of eq. 2 and 3 and their gradients, per optimized input.

    Returns
    -------
    penalties : dict of str to array
        ``"<input>/norm"`` and ``"<input>/tv"``, each of shape ``(N,)``.
    grads : dict of str to array
        The penalties' summed gradient for each input in ``run.used``.
    """
    penalty, grads = {}, {}
    for k in run.used:
        lam_n, lam_tv = run.weights[k]
        reg = run.streams[k]
        nb, nb_grad = norm_bound_value_grad_unchecked(x[k], reg.alpha, xp)
        tv, tv_grad = total_variation_value_grad_unchecked(x[k], reg.kappa, reg.gamma, xp)
        grads[k] = lam_n * nb_grad + lam_tv * tv_grad
        penalty[f"{k}/norm"] = lam_n * nb
        penalty[f"{k}/tv"] = lam_tv * tv
    return penalty, grads


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
    return out


def adam_step(run: RunSettings, optimizer, state, grads, x, step, xp):
    """Adam's update of the optimized inputs, then each pixel projected back inside the bound.

    Parameters
    ----------
    run : RunSettings
    optimizer : Optimizer
    state : AdamState
    grads : dict of str to array
        Gradient of the loss (penalties minus objective) per input in ``run.used``.
    x : dict of str to array
        All inputs of this step.
    step : int
    xp : namespace

    Returns
    -------
    x : dict of str to array
        All inputs of the next step.
    state : AdamState
    """
    updates, state = optimizer.update(grads, state, step)
    stepped = apply_updates({k: x[k] for k in run.used}, updates)
    bounded = {k: project_to_bound_unchecked(v, run.streams[k].bound, xp)
               for k, v in stepped.items()}
    return {**x, **bounded}, state


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
