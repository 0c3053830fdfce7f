"""The objective's automatic scale and the measured quality of each visualization.

Automatic scale (``objective_scale="auto"``, the default when no ``a_hat`` is
given): eq. 1 divides a unit by ``rho^2 * a_hat``; without a recorded ``a_hat``
(1 then) the unit's gradient on a random or unnormalized network can be orders
of magnitude below the regularizers', and every unit converges to the same
regularizer-only input. The statistic chosen is the unit's own gradient at the
start: on the initial input (step 0, no jitter, no transforms) each
visualization ``n`` gets the factor ``s_n = |grad R0_n| / |grad U_n|``, the
ratio of the Euclidean norms, over every optimized input, of a reference
regularizer's gradient and of the unit term's (eq. 1 with ``a_hat = 1``). The
reference ``R0`` is the run's norm penalty plus its total variation at
``kappa = 1, gamma = 0`` (the spatial TV, with the run's weights), not the
run's own ``kappa`` and ``gamma``: runs of one unit under different temporal
slowness get the same factor and differ only by their smoothness, so the
paper's comparisons across gamma stay what they were. It is robust to a
near-zero activation (a gradient norm does not cancel the way a signed channel
sum does, and Adam only sees the ratio); where either norm is zero or not finite
(a dead unit, no regularization) the factor is 1, the literal one.
``objective_scale="paper"``, or any given ``a_hat``, keeps eq. 1 literal.

Feature matching (:func:`stviz_core.feature_matching.feature_match`) is left out of
the automatic scale: ``||A - A0||^2 / ||A0||^2`` is already normalized (the
code's own energy), and with the paper's regularizer weights (normalized by
``H W B^alpha`` and ``H W V^2``) it is Mahendran and Vedaldi's objective with
weight 1. Scaling it to the regularizers' gradient at the start would be
wrong twice: on a noise start its gradient is large and the factor would
shrink it, and the ascent would then settle where the matching gradient
(proportional to ``A - A0``) balances the regularizers, far from the code; from
a clip start (accentuation) it is zero. So in a sum the factor is measured
on, and applied to, the unit terms alone, and a run of feature matching alone
is literal (``config["objective_scale"]["applied"] = "paper"``, scale 1). Its
quality entries carry ``feature_match: True`` and no warnings: the matching
gradient vanishes as the code is reached, so a small unit share at the end
is success, and two inversions of one clip are meant to agree.

Quality (``result.config["quality"]``, one dict per visualization):

``unit_share_start``, ``unit_share_end``
    ``|grad U| / (|grad U| + |grad R|)`` on the initial and the final input
    (no jitter), with the run's scale; ``None`` when both norms are zero.
``gain``
    Final objective value over the initial one's magnitude (negative: the unit
    ended below zero; ``None`` when the initial one is 0).
``gain_a_hat``
    With ``a_hat`` given: the final objective value with ``rho = 1``, i.e. the
    unit's activation over ``a_hat``; else ``None``.
``distinctness``
    Highest Pearson correlation of its optimized inputs with another
    visualization's of the same run; ``None`` (NaN) for a single one.
``scale``
    The factor applied to the unit term on top of eq. 1's (1 when literal).
"""

from __future__ import annotations

import math

import numpy as np

from .objective_tree import Context

__all__ = ["SCALES", "auto_factors", "distinctness", "measure", "warnings",
           "SHARE_MIN", "CORRELATION_MAX"]

#: valid values of ``objective_scale``
SCALES = ("auto", "paper")
#: a visualization whose unit share at the end is below this is regularizer-dominated
SHARE_MIN = 0.1
#: a visualization correlated above this with another one is indistinct
CORRELATION_MAX = 0.95
STATISTIC = ("|grad (norm penalty + spatial TV)| / |grad unit| on the initial input (step 0, no jitter), "
             "per visualization; 1 where either is 0")


def auto_factors(unit, reg):
    """Per-visualization factors ``reg / unit`` (``reg``: the reference norm); 1 where either is 0 or not finite."""
    unit, reg = np.asarray(unit, np.float64), np.asarray(reg, np.float64)
    ok = np.isfinite(unit) & np.isfinite(reg) & (unit > 0) & (reg > 0)
    return np.where(ok, reg / np.where(ok, unit, 1.0), 1.0)


def distinctness(inputs, names=None):
    """Highest correlation of each visualization's inputs with another's; NaN for one alone.

    Parameters
    ----------
    inputs : dict of str to ndarray
        ``(N, T, H, W, C)`` per input.
    names : sequence of str, optional
        Inputs to compare (all if omitted), concatenated per visualization.

    Returns
    -------
    ndarray
        ``(N,)``.
    """
    names = sorted(inputs) if names is None else sorted(names)
    flat = np.concatenate([np.asarray(inputs[k], np.float64).reshape(len(inputs[k]), -1)
                           for k in names], axis=1)
    n = flat.shape[0]
    if n < 2:
        return np.full(n, np.nan)
    flat = flat - flat.mean(axis=1, keepdims=True)
    norm = np.sqrt((flat**2).sum(axis=1))
    safe = np.where(norm > 0, norm, 1.0)
    corr = (flat @ flat.T) / np.outer(safe, safe)
    corr[(norm == 0)[:, None] | (norm == 0)[None, :]] = np.nan
    np.fill_diagonal(corr, -np.inf)
    best = corr.max(axis=1, initial=-np.inf, where=~np.isnan(corr))
    return np.where(np.isfinite(best), best, np.nan)


def _share(unit, reg):
    total = unit + reg
    return np.where(total > 0, unit / np.where(total > 0, total, 1.0), np.nan)


def measure(start, end, factors, inputs, run, a_hat_value=None):
    """The per-visualization quality entries (see the module notes).

    Parameters
    ----------
    start, end : tuple of ndarray
        :func:`gradient_norms` on the initial and the final input.
    factors : ndarray
        ``(N,)`` scale applied to the unit term.
    inputs : dict of str to ndarray
        The final inputs.
    run : RunSettings
    a_hat_value : ndarray, optional
        Final objective value with ``rho = 1`` and the given ``a_hat``.

    Returns
    -------
    list of dict
    """
    share0, share1 = _share(start[1], start[2]), _share(end[1], end[2])
    v0, v1 = start[0], end[0]
    gain = np.where(v0 != 0, v1 / np.where(v0 != 0, np.abs(v0), 1.0), np.nan)
    dist = distinctness(inputs, run.used)
    out = []
    for n in range(run.batch):
        out.append({
            "unit_share_start": _num(share0[n]), "unit_share_end": _num(share1[n]),
            "gain": _num(gain[n]),
            "gain_a_hat": None if a_hat_value is None else _num(a_hat_value[n]),
            "distinctness": _num(dist[n]), "scale": _num(factors[n]),
        })
    return out


def _num(v):
    v = float(v)
    return v if math.isfinite(v) else None


def warnings(entry) -> list:
    """Warnings for one visualization's quality entry, each saying what to change.

    Parameters
    ----------
    entry : dict or None
        One item of ``result.config["quality"]`` (none for results without it).

    Returns
    -------
    list of str
        Empty when the visualization is neither regularizer-dominated nor indistinct,
        and for a feature-matching run (module notes).
    """
    out = []
    if not entry or entry.get("feature_match"):
        return out
    share = entry.get("unit_share_end")
    if share is not None and share < SHARE_MIN:
        out.append(f"regularizer-dominated: the unit makes {100 * share:.1f}% of the gradient "
                   f"at the end (< {100 * SHARE_MIN:.0f}%); pass a_hat from activity recording, "
                   "use objective_scale='auto', lower kappa/gamma, or use the fourier preset")
    corr = entry.get("distinctness")
    if corr is not None and corr > CORRELATION_MAX:
        out.append(f"indistinct: correlation {corr:.3f} with another visualization of the run "
                   f"(> {CORRELATION_MAX}); use objective_scale='auto' or the fourier preset, "
                   "lower kappa/gamma, or try another seed")
    return out


def a_hat_context(run):
    """``Context(rho=1, a_hat)`` for the gain over ``a_hat``; ``None`` without ``a_hat``."""
    return None if run.context.a_hat is None else Context(rho=1.0, a_hat=run.context.a_hat)
