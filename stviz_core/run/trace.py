"""The trace of an ascent run: objective, penalties and total per step and visualization.

A trace is a dict ``key -> list`` with one ``(N,)`` array per step, kept on the
device while the run goes; :func:`host_trace` brings rows to the host as
float64 ``(rows, N)`` arrays. Keys: ``"objective"``, ``"<input>/norm"`` and
``"<input>/tv"`` per input (sorted), ``"diversity"`` when the run has that term,
``"total"`` (objective minus penalties).
"""

from __future__ import annotations

import numpy as np

from .._xp import namespace, to_numpy

__all__ = ["new_trace", "record", "host_trace", "first_non_finite"]


def new_trace(specs, extra=()) -> dict:
    """An empty trace with the keys of a run over the inputs named in ``specs``, plus ``extra`` terms."""
    keys = ["objective"]
    for k in sorted(specs):
        keys += [f"{k}/norm", f"{k}/tv"]
    return {key: [] for key in keys + list(extra) + ["total"]}


def record(trace, value, penalties) -> None:
    """Append one step: the objective ``value``, each penalty, and their total."""
    trace["objective"].append(value)
    total = value
    for key in sorted(penalties):  # one summation order in every process (no set order)
        trace[key].append(penalties[key])
        total = total - penalties[key]
    trace["total"].append(total)


def host_trace(trace, rows=None) -> dict:
    """Trace rows ``[0, rows)`` on the host as ``(rows, N)`` float64 arrays (one transfer per key)."""
    out = {}
    for k, vals in trace.items():
        kept = vals[:rows]
        if kept:
            out[k] = to_numpy(_stack(kept)).astype(np.float64)
        else:
            out[k] = np.zeros((0, to_numpy(vals[0]).shape[0] if vals else 0))
    return out


def first_non_finite(trace, start, stop):
    """The first non-finite entry among rows ``[start, stop)``, or ``None``.

    The check runs where the trace is (on the device): one boolean comes back
    when every value is finite; only a failed check brings the rows over to
    find the first bad one. Keys are searched in trace order, rows and
    visualizations in order within a key.

    Returns
    -------
    tuple or None
        ``(key, row, item, value)``, ``row`` counted from the start of the run.
    """
    rows = [vals[start:stop] for vals in trace.values()]
    rows = [r for r in rows if r]
    if not rows:
        return None
    block = _stack([_stack(r) for r in rows])
    xp = namespace(block)
    if bool(xp.all(xp.isfinite(block))):
        return None
    for key, values in host_trace({k: v[start:stop] for k, v in trace.items()}).items():
        bad = ~np.isfinite(values)
        if bad.any():
            row, item = map(int, np.argwhere(bad)[0])
            return key, start + row, item, values[row, item]
    return None


def _stack(arrays):
    if isinstance(arrays[0], np.ndarray):
        return np.stack(arrays)
    return namespace(arrays[0]).stack(arrays)
