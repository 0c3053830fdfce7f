"""What runs a sweep's cells, on the driver or in a Ray worker: open the model, run one batch."""

from __future__ import annotations

import stviz_core as sv
from stviz_core.backend import plugin_hook, select_plugin

from ..model_loading import fingerprint, load_model
from .grid import Grid

__all__ = ["open_model", "run_cells"]


def open_model(grid: Grid, *, identify=False):
    """Load the grid's model in the grid's dtype and device; returns ``(model, backend name)``.

    With ``identify``, also the model's identity ``{"spec", "fingerprint"}``, the
    fingerprint taken from the weights as loaded (before the dtype change, so a
    float32 and a float64 sweep of one model share a folder).
    """
    model = load_model(grid.model, trust_pickle=grid.trust_pickle)
    identity = {"spec": grid.model, "fingerprint": fingerprint(model)} if identify else None
    plugin = select_plugin(model)
    backend = grid.backend or plugin.name
    if backend != plugin.name:
        raise ValueError(f"the grid asks for backend {backend!r} but {grid.model} is a "
                         f"{plugin.name} model")
    try:  # as stviz visualize --device: a device the framework cannot use is a one-line refusal
        model = plugin_hook(plugin, "prepare")(model, dtype=grid.dtype, device=grid.device)
    except (RuntimeError, AssertionError) as exc:
        raise ValueError(f"device {grid.device!r}: {str(exc).strip().splitlines()[0]}") from None
    return (model, backend, identity) if identify else (model, backend)


def run_cells(model, cells, *, fail_attempt=False):
    """Optimize ``cells`` (one batch: same group, different units) together; one Result per cell.

    ``fail_attempt`` is a test hook: raise before any work, as a crashed cell would.
    """
    if fail_attempt:
        raise RuntimeError(f"test hook: {cells[0].label()} fails on its first attempt")
    first = cells[0]
    objectives = [sv.channel(c.unit, normalize=first.normalize) for c in cells]
    result = sv.visualize(model, first.layer, objective=objectives, backend=first.backend,
                          options=first.run_options(len(cells)))
    return [result.select([i]) for i in range(len(cells))]
