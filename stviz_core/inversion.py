"""Feature inversion and feature accentuation on a backend (the model-level calls are
:func:`stviz_core.invert` and :func:`stviz_core.accentuate`).

**Inversion** (Mahendran and Vedaldi's pre-images): given a clip ``x0``, find
an input whose code at the backend's layer is the clip's, under the same
regularizers as a visualization: maximize ``feature_match(code(x0))``, i.e.
minimize ``||phi(x) - phi(x0)||^2 / ||phi(x0)||^2 + R(x)``, from noise. What
the reconstruction keeps of the clip is what the layer keeps. A two-stream
model's appearance and motion inputs are inverted jointly from a layer that
sees both (a fusion layer); from a layer of one stream only that stream is
optimized (the other input is not an input of the layer: it stays as
initialized, noise, and the config lists the optimized inputs).

**Accentuation**: start from a real clip and maximize a unit while a
feature-matching term (``feature_weight``) and/or a pixel-distance term
(``pixel_weight``, :func:`stviz_core.regularizers.anchor_value_grad`) keep the
input near the clip: what in the clip the unit would like more of.

Both run the ``paper`` preset unless given one (``preset=``; not
:data:`stviz_core.presets.DEFAULT`, whose output stage fixes the contrast an inversion
should recover, and whose z-scored field takes no ``init=`` clip to accentuate), and
both default to ``jitter=False`` and no transforms (whatever the preset has):
the target code is the unshifted clip's, and the code of a shifted input is
not the shifted code (a shift that is not a multiple of the layer's stride
changes it; a scale, rotation or frame shift more so), so a jittered match
pulls toward a blur of moved copies of the clip. Pass ``jitter=True`` or
``transforms=`` to have them anyway.

Results carry what was measured: ``config["inversion"]`` (layer, clip source,
the normalized feature error reached per visualization, the reconstruction's
Pearson correlation with the clip per input) and ``config["accentuation"]``
(the unit objectives, both weights, the unit's value on the clip and at the
end, the feature error at the end).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ._xp import from_numpy, to_numpy
from .codes import Code, encode, forward
from .feature_matching import feature_match
from .objective_tree import Context, Objective, per_item
from .run.loop import ascend
from .run.options import RunOptions
from .run.start import Clip
from .transforms import Transforms

__all__ = ["invert", "accentuate", "feature_error", "correlation"]


def _clip(clip) -> Clip:
    if isinstance(clip, Clip):
        return clip
    if hasattr(clip, "inputs") and hasattr(clip, "config"):  # a Result: its inputs as a clip
        return Clip(clip.inputs, source="Result")
    return Clip(clip)


def feature_error(backend, inputs, code: Code) -> np.ndarray:
    """``||phi(x) - phi0||^2 / ||phi0||^2`` per visualization (the normalized feature error).

    Parameters
    ----------
    backend : Backend
    inputs : mapping of str to array
        ``{name: (N, T, H, W, C)}`` on the host.
    code : Code
        One code, or ``N``.
    """
    x = {k: from_numpy(np.asarray(v), backend.xp, dtype=backend.dtype, device=backend.device)
         for k, v in inputs.items()}
    acts = to_numpy(forward(backend, x)).astype(np.float64)
    target = code.activations
    d = (acts - target).reshape(len(acts), -1)
    return (d * d).sum(axis=1) / (target * target).reshape(len(target), -1).sum(axis=1)


def correlation(a, b) -> np.ndarray:
    """Pearson correlation of ``a[n]`` and ``b[n]`` (``b`` one item or ``N``), per item; NaN when flat."""
    a = np.asarray(a, np.float64).reshape(len(a), -1)
    b = np.broadcast_to(np.asarray(b, np.float64).reshape(len(b), -1), a.shape)
    a, b = a - a.mean(axis=1, keepdims=True), b - b.mean(axis=1, keepdims=True)
    denom = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    return np.where(denom > 0, (a * b).sum(axis=1) / np.where(denom > 0, denom, 1.0), np.nan)


def _with_preset(options: RunOptions) -> RunOptions:
    """``options`` with ``paper`` as its preset when none was given (module notes)."""
    return options.replace(preset="paper") if options.preset is None else options


def _numbers(values) -> list:
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(values, np.float64)]


def invert(backend, clip, options=None, *, jitter: bool = False, transforms=None, **changes):
    """Reconstruct ``clip`` from its code at the backend's layer (see the module notes).

    Parameters
    ----------
    backend : Backend
    clip : mapping, Clip or Result
        ``{name: (N, T, H, W, C)}`` for every input (``N`` clips give ``N``
        reconstructions, each matching its own code).
    options : RunOptions, optional
        The run's options (:func:`stviz_core.ascend`); its ``seed`` (of the
        initial noise and the jitter) is one for all (default 0) or one per clip.
    jitter : bool
        Off by default (module notes); this keyword wins over ``options.jitter``.
    transforms : Transforms, optional
        None by default, whatever the preset's or ``options``' (module notes).
    **changes
        Run options by name, changing ``options`` (``preset``, ``steps``, ``seed``,
        ``init``, ``parameterization``, ...).

    Returns
    -------
    Result
        With ``config["inversion"]``: ``layer``, ``clip``, ``feature_error``
        (per visualization, ``||phi(x) - phi0||^2 / ||phi0||^2`` at the final
        input), ``correlation`` (per optimized input, per visualization, with
        the clip) and ``not_inverted`` (inputs the layer does not see: left as
        initialized).
    """
    options = _with_preset(RunOptions.build(options, **changes))
    clip = _clip(clip)
    code = encode(backend, clip)
    n = len(code)
    objectives = [feature_match(code)] if n == 1 else [feature_match(code.item(i)) for i in range(n)]
    result = ascend(backend, objectives, options.replace(
        seed=(0 if n == 1 else [0] * n) if options.seed is None else options.seed, jitter=jitter,
        transforms=Transforms() if transforms is None else transforms))
    error = -np.asarray(result.final["objective"], np.float64)  # weight 1, never scaled
    result.config["inversion"] = {
        "layer": code.layer, "clip": clip.source, "codes": n, "feature_error": _numbers(error),
        "correlation": {k: _numbers(correlation(result.inputs[k], clip.inputs[k]))
                        for k in result.config["optimized_inputs"] if k in clip.inputs},
        "not_inverted": sorted(set(result.inputs) - set(result.config["optimized_inputs"])),
        "jitter": bool(jitter),
    }
    return result


def accentuate(backend, clip, objective, options=None, *, feature_weight: float = 1.0,
               pixel_weight: float = 0.0, jitter: bool = False, transforms=None, **changes):
    """Strengthen a unit in a real clip: maximize ``objective`` from the clip, kept near it.

    Parameters
    ----------
    backend : Backend
    clip : mapping, Clip or Result
        One clip (shared by every visualization) or one per visualization.
    objective : Objective or sequence of Objective
        The unit(s) to accentuate, one visualization each (``channel(c)``, ...).
    feature_weight : float
        Weight ``>= 0`` of ``feature_match(code(clip))`` added to each objective.
    pixel_weight : float
        Weight ``>= 0`` of the pixel-distance term to the clip (``ascend(anchor=...)``).
    options : RunOptions, optional
        The run's options (:func:`stviz_core.ascend`); ``seed`` 0 for each by default.
    jitter : bool
        Off by default (module notes); this keyword wins over ``options.jitter``.
    transforms : Transforms, optional
        None by default, whatever the preset's or ``options``' (module notes).
    **changes
        Run options by name, changing ``options``.

    Returns
    -------
    Result
        With ``config["accentuation"]``: ``objectives``, ``feature_weight``,
        ``pixel_weight``, ``clip``, and per visualization ``unit_clip`` and
        ``unit_end`` (the objective's value, eq. 1 without the automatic scale,
        on the clip and at the end) and ``feature_error`` at the end.

    Raises
    ------
    ValueError
        A negative weight, both weights zero (nothing keeps the input near the
        clip: use :func:`stviz_core.visualize` with ``init=``).
    """
    from ._checks import non_negative

    options = _with_preset(RunOptions.build(options, **changes))
    feature_weight = non_negative(feature_weight, "feature_weight")
    pixel_weight = non_negative(pixel_weight, "pixel_weight")
    if feature_weight == 0 and pixel_weight == 0:
        raise ValueError("feature_weight and pixel_weight are both 0: nothing keeps the input near "
                         "the clip; give one of them > 0 (or start a plain visualization from the "
                         "clip with init=)")
    clip = _clip(clip)
    units = [objective] if isinstance(objective, Objective) else list(objective)
    if not units or not all(isinstance(o, Objective) for o in units):
        raise TypeError("objective must be an Objective or a sequence of them, e.g. channel(3)")
    code = encode(backend, clip)
    if len(code) not in (1, len(units)):
        raise ValueError(f"{len(code)} clips for {len(units)} objectives: give one clip, or one per "
                         "objective")
    codes = [code] if len(code) == 1 else [code.item(i) for i in range(len(code))]
    total = [u + feature_weight * feature_match(codes[i % len(codes)]) if feature_weight else u
             for i, u in enumerate(units)]
    result = ascend(backend, total, options.replace(
        seed=[0] * len(units) if options.seed is None else options.seed, jitter=jitter, init=clip,
        anchor=pixel_weight, transforms=Transforms() if transforms is None else transforms))
    ctx = Context(rho=result.config["rho"], a_hat=result.config["a_hat"])
    batch = len(units)
    start = {k: np.broadcast_to(v, (batch, *v.shape[1:])) for k, v in clip.inputs.items()}
    result.config["accentuation"] = {
        "objectives": [u.describe() for u in units], "feature_weight": feature_weight,
        "pixel_weight": pixel_weight, "clip": clip.source, "jitter": bool(jitter),
        "unit_clip": _numbers(_unit_values(backend, start, units, ctx)),
        "unit_end": _numbers(_unit_values(backend, result.inputs, units, ctx)),
        "feature_error": _numbers(feature_error(backend, result.inputs, code)),
    }
    return result


def _unit_values(backend, inputs, units: Sequence[Objective], ctx) -> np.ndarray:
    x = {k: from_numpy(np.ascontiguousarray(v), backend.xp, dtype=backend.dtype,
                       device=backend.device) for k, v in inputs.items()}
    return to_numpy(per_item(units).value(forward(backend, x), ctx)).astype(np.float64)
