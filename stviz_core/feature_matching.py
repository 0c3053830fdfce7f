"""Feature matching: the objective ``-||A - A0||^2 / ||A0||^2`` of feature inversion.

Mahendran and Vedaldi's normalized reconstruction error with the sign flipped,
per visualization, ``A0`` a target code of the same layer
(:mod:`stviz_core.codes`); maximizing it minimizes the normalized distance. It
is not linear (its cotangent ``-2 (A - A0) / ||A0||^2`` depends on ``A``) and
it is already scale-free, so it takes neither eq. 1's normalization nor the
automatic unit scale (:func:`stviz_core.objective_tree.split_scale_free`). A
target given as a clip is encoded when the run is planned
(:func:`resolve_codes`), which then checks every code against the run's layer
(:meth:`_FeatureMatch.check_against`, found by :func:`feature_terms`).
"""

from __future__ import annotations

import hashlib
from typing import Mapping

import numpy as np

from ._xp import array_device, from_numpy, namespace, per_item_sum
from .codes import as_code, encode
from .objective_tree import Context, Objective
from .run.start import Clip

__all__ = ["feature_match", "feature_terms", "resolve_codes"]


class _FeatureMatch(Objective):
    """``-||A - A0||^2 / ||A0||^2`` per visualization (module notes); see :func:`feature_match`."""

    scale_free = True

    def __init__(self, target):
        self.clip = target if isinstance(target, Clip) else None
        self.code = None if self.clip is not None else as_code(target)
        if self.code is not None:
            self._set(self.code)

    def _set(self, code):
        acts = code.activations
        if not np.isfinite(acts).all():
            raise ValueError(f"the target code holds {int((~np.isfinite(acts)).sum())} non-finite "
                             "value(s)")
        norms = (acts * acts).reshape(len(acts), -1).sum(axis=1)
        if not (norms > 0).all():
            n = int(np.argmin(norms > 0))
            raise ValueError(f"the target code of clip {n} is all zeros at layer "
                             f"{code.layer or '(unnamed)'}: the normalized distance "
                             "||A - A0||^2 / ||A0||^2 is undefined; choose a layer where the clip "
                             "activates some unit")
        self.code, self.inverse_norms = code, 1.0 / norms
        self.digest = hashlib.sha256(np.ascontiguousarray(acts).tobytes()
                                     + str(acts.shape).encode()).hexdigest()[:8]

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items() if k not in ("_cotangents", "_on_device")}

    @property
    def layer(self):
        return None if self.code is None else self.code.layer

    def resolved(self, backend) -> "_FeatureMatch":
        """This objective with its clip encoded by ``backend`` (itself when it has a code)."""
        return self if self.clip is None else _FeatureMatch(encode(backend, self.clip))

    def check_against(self, layer, shape, batch):
        """Refuse a code of another layer or shape than the backend's (``None``: unknown)."""
        if self.code is None:
            raise ValueError(self._unresolved_message())
        if layer is not None and self.code.layer is not None and self.code.layer != layer:
            raise ValueError(f"the target code is from layer {self.code.layer!r}; this run's layer "
                             f"is {layer!r}: encode the clip at {layer!r} (or run at "
                             f"{self.code.layer!r})")
        if shape is not None and tuple(shape) != self.code.shape:
            raise ValueError(self._shape_message(tuple(shape), layer))
        if len(self.code) not in (1, batch):
            raise ValueError(f"the target code holds {len(self.code)} clips' codes for a batch of "
                             f"{batch}: give one code per visualization (seed=[...] one each), or "
                             "one feature_match per visualization with stviz_core.per_item")

    def _shape_message(self, shape, layer=None):
        where = f"layer {layer!r}" if layer else "the layer"
        return (f"the target code is {self.code.shape} per visualization (layer "
                f"{self.code.layer or 'unnamed'}), {where} gives activations of {shape}: a code "
                "of another layer or of another input size")

    def _unresolved_message(self):
        return ("feature_match(clip) is encoded when a run is planned: run it through "
                "stviz_core.ascend or visualize, or encode the clip first "
                "(stviz_core.codes.encode(backend, clip))")

    def _placed(self, acts):
        """The target and ``1/||A0||^2`` in ``acts``' namespace, dtype and device (cached)."""
        if self.code is None:
            raise ValueError(self._unresolved_message())
        if tuple(acts.shape[1:]) != self.code.shape:
            raise ValueError(self._shape_message(tuple(acts.shape[1:])))
        if len(self.code) not in (1, acts.shape[0]):
            raise ValueError(f"the target code holds {len(self.code)} clips' codes for a batch of "
                             f"{acts.shape[0]}")
        xp = namespace(acts)
        key = (str(acts.dtype), str(array_device(acts)), id(xp))
        cache = self.__dict__.setdefault("_on_device", {})
        if key not in cache:
            cache.clear()
            shape = (len(self.code),) + (1,) * (acts.ndim - 1)
            cache[key] = (
                from_numpy(self.code.activations, xp, dtype=acts.dtype, device=array_device(acts)),
                from_numpy(self.inverse_norms, xp, dtype=acts.dtype, device=array_device(acts)),
                from_numpy(np.reshape(self.inverse_norms, shape), xp, dtype=acts.dtype,
                           device=array_device(acts)))
        return cache[key]

    def value(self, acts, ctx=Context()):
        target, inverse, _ = self._placed(acts)
        d = acts - target
        return -per_item_sum(d * d, namespace(acts)) * inverse

    def cotangent(self, acts, ctx=Context()):
        target, _, inverse = self._placed(acts)
        return (-2.0 * inverse) * (acts - target)

    def value_and_cotangent(self, acts, ctx=Context()):
        target, inverse, broadcast = self._placed(acts)
        d = acts - target
        return -per_item_sum(d * d, namespace(acts)) * inverse, (-2.0 * broadcast) * d

    def describe(self):
        if self.code is None:
            return f"feature_match(clip {self.clip.source!r})"
        layer = f", layer={self.code.layer!r}" if self.code.layer else ""
        return f"feature_match(code {self.digest}{layer})"

def feature_match(target) -> Objective:
    """Match a target code: ``-||A - A0||^2 / ||A0||^2`` per visualization (feature inversion).

    Maximized by the ascent like every objective, so the input moves to make
    the layer's activations ``A`` equal the target ``A0`` (Mahendran and
    Vedaldi's normalized reconstruction error, with the sign flipped). The
    cotangent is ``-2 (A - A0) / ||A0||^2``, in closed form. It composes with
    the other objectives (``channel(3) + 0.5 * feature_match(code)``: feature
    accentuation) and never takes the automatic unit scale (module notes).

    Parameters
    ----------
    target : Code, array or Clip
        A :class:`stviz_core.codes.Code` (from :func:`stviz_core.codes.encode` or
        :meth:`Code.load`, which names its layer), activations ``(N or 1, ..., K)``
        in the backend's layout, or a :class:`stviz_core.Clip` (or its inputs as
        a mapping) to be encoded by the run's backend when the run is planned.
        One code is shared by every visualization; ``N`` codes give one each.

    Raises
    ------
    ValueError
        A code that is all zeros (the distance is undefined) or not finite; at
        planning, a code of another layer or shape than the run's (both named).
    """
    if isinstance(target, Mapping) and not isinstance(target, Clip):
        target = Clip(target)
    return _FeatureMatch(target)


def feature_terms(objective: Objective):
    """Every feature-matching term of ``objective`` (sums and per-item batches walked)."""
    return (o for o in objective.leaves() if isinstance(o, _FeatureMatch))


def resolve_codes(objective: Objective, backend) -> Objective:
    """``objective`` with every ``feature_match(clip)`` encoded by ``backend`` (a forward pass each);
    the same object when it has no clip to encode."""
    return objective.map_leaves(lambda o: o.resolved(backend) if isinstance(o, _FeatureMatch) else o)
