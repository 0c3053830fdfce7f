"""The fused step: a step's element-wise work as pure functions of arrays, compiled by the backend.

A backend with the optional member ``compiled`` (``docs/architecture.md``, sec. 2: PyTorch's
``TorchBackend(..., fused_step=True)``, ``torch.compile``) gets two pure functions per step
instead of the eager operations, each compiled once into one graph:

* :func:`regularize`: eq. 2's norm penalty and eq. 3's total variation (and an anchor's
  pixel distance), their values and their weighted gradients, for every optimized input;
* :func:`adam`: Adam's moments, its update and the parameters it moves to.

They compute what :func:`stviz_core.run.step.regularizer_gradients` and the Adam part of
:func:`stviz_core.run.step.adam_step` (:func:`stviz_core.optim.adam`'s ``update`` and
``apply_updates``) compute, in the same order (the tests compare them step by step). The
parameterizations' maps (their VJP and :meth:`~stviz_core.param.Field.constrain`, the
bound) stay as they are: they remember the last parameters' outputs for the next step's
canvas, a side effect no pure function has.

What a compiled function sees is fixed for a run: the static settings (weights, exponents,
Adam's ``b1``, ``b2``, ``eps``, moment) are Python numbers, the arrays keep their shapes. The
numbers that change every step (the learning rate and Adam's two bias corrections) go to the
device once, as a ``(steps, 3)`` table, before the run's first Adam step; a step reads its row
there (no host transfer, no recompilation).
"""

from __future__ import annotations

import weakref

import numpy as np

from .._xp import array_device, from_numpy, namespace
from ..optim import adam_moments
from ..regularizers import anchor_value_grad, penalties_value_grad_unchecked

__all__ = ["regularize", "adam", "static", "adam_update"]


def regularize(xp, settings, xs, anchors):
    """The weighted penalties and their summed gradient of each input (a pure function).

    Parameters
    ----------
    xp : namespace
    settings : tuple
        Per input ``(lam_norm, lam_tv, alpha, kappa, gamma, bound, anchor_weight)``
        (``anchor_weight`` None without an anchor).
    xs, anchors : tuple of array
        The inputs ``(N, T, H, W, C)`` and their anchors (None where there is none).

    Returns
    -------
    values : tuple of tuple of array
        Per input ``(norm, tv)`` or ``(norm, tv, anchor)``, each ``(N,)``.
    grads : tuple of array
        Per input, the gradient of the sum of its penalties.
    """
    values, grads = [], []
    for (lam_n, lam_tv, alpha, kappa, gamma, bound, weight), x, x0 in zip(settings, xs, anchors):
        # one gradient array per input, each term added to it in place (a fresh array)
        terms, grad = penalties_value_grad_unchecked(x, lam_n, lam_tv, alpha, kappa, gamma, xp)
        if weight is not None:
            value, anchor_grad = anchor_value_grad(x, x0, bound, xp, weight=weight)
            grad += anchor_grad
            terms += (value,)
        values.append(terms)
        grads.append(grad)
    return tuple(values), tuple(grads)


def adam(xp, settings, params, grads, mu, nu, row):
    """Adam's update (:func:`stviz_core.optim.adam_moments`, as ``optim.adam`` runs it) and the
    moved parameters.

    Parameters
    ----------
    xp : namespace
    settings : tuple
        ``(b1, b2, eps, moment)``.
    params, grads, mu, nu : tuple of array
        Per optimized input: its parameters, the loss's gradient w.r.t. them, Adam's moments.
    row : array
        ``(3,)``: this step's learning rate and the bias corrections ``1 - b1^t``, ``1 - b2^t``.

    Returns
    -------
    stepped, mu, nu : tuple of array
    """
    b1, b2, eps, moment = settings
    stepped, new_mu, new_nu = [], [], []
    for p, g, m, v in zip(params, grads, mu, nu):
        update, m, v = adam_moments(g, m, v, b1=b1, b2=b2, eps=eps, moment=moment, lr=row[0],
                                    c1=row[1], c2=row[2], xp=xp)
        stepped.append(p + update)
        new_mu.append(m)
        new_nu.append(v)
    return tuple(stepped), tuple(new_mu), tuple(new_nu)


def static(settings):
    """Per-input settings as Python numbers (None kept): constants of a compiled graph."""
    return tuple(tuple(None if v is None else float(v) for v in row) for row in settings)


def adam_update(run, optimizer, state, pulled, params, step, xp):
    """Adam's step through the backend's compiled :func:`adam`: ``(stepped, state)`` as
    ``optimizer.update`` and ``apply_updates`` give them (``stepped``: the parameters of
    ``run.used`` before the constraint)."""
    config = optimizer.config
    settings = (float(config["b1"]), float(config["b2"]), float(config["eps"]), config["moment"])
    names = run.used
    row = _schedule(run, settings, state.count - step, pulled[names[0]])[step, ...]
    stepped, mu, nu = run.compiled(adam)(
        xp, settings, tuple(params[k] for k in names), tuple(pulled[k] for k in names),
        tuple(state.mu[k] for k in names), tuple(state.nu[k] for k in names), row)
    return (dict(zip(names, stepped)),
            type(state)(state.count + 1, dict(zip(names, mu)), dict(zip(names, nu))))


#: per run (by id, with a weak reference that tells a reused id apart): its schedule table
_TABLES: dict = {}


def _schedule(run, settings, start_count, like):
    """The run's ``(steps, 3)`` table of learning rates and bias corrections on ``like``'s
    device and dtype, made once per run (``start_count``: Adam's count before step 0)."""
    key = (id(run), start_count, str(like.dtype), str(array_device(like)))
    kept = _TABLES.get(key)
    if kept is not None and kept[0]() is run:
        return kept[1]
    b1, b2 = settings[:2]
    counts = range(start_count + 1, start_count + 1 + run.steps)
    table = np.array([[float(run.learning_rate(s)), 1 - b1**c, 1 - b2**c]  # as optim.adam does
                      for s, c in enumerate(counts)])
    if len(_TABLES) >= 8:
        _TABLES.clear()
    values = from_numpy(table, namespace(like), dtype=like.dtype, device=array_device(like))
    _TABLES[key] = (weakref.ref(run), values)
    return values
