"""The one-call entry point: pick a backend plugin for a model and run the ascent."""

from __future__ import annotations

from .backend import select_plugin
from .loop import ascend
from .objectives import channel as _channel
from .objectives import resolve_classes

__all__ = ["visualize"]


def visualize(
    model,
    layer: str,
    channels=None,
    *,
    inputs=None,
    layout=None,
    objective=None,
    backend=None,
    backend_options=None,
    plugins=None,
    **options,
):
    """Visualize units of ``model`` at ``layer``: what input excites each most.

    Parameters
    ----------
    model : object
        A model of any framework with an installed backend plugin.
    layer : str
        Target layer name (as the framework names it).
    channels : int or sequence of int, optional
        One visualization per channel, each with a :func:`channel` objective
        (eq. 1). Give ``objective`` instead for anything else.
    inputs : mapping, optional
        ``{name: (T, H, W, C)}`` or ``{name: InputSpec}``: the model's inputs in
        canonical layout, e.g. ``{"rgb": (1, 112, 112, 3), "flow": (10, 112, 112, 2)}``.
        Models built by ``stviz_adapters`` carry their own (``model.stviz_inputs``).
    layout : object, optional
        How canonical inputs become the model's arguments
        (``stviz_core.layouts.TwoStream2D()``, ``Clip3D()``, ...); models
        built by ``stviz_adapters`` carry their own (``model.stviz_layout``).
    objective : Objective or sequence of Objective, optional
        Classes named by a string (``class_logit("playing cricket")``) are
        looked up in the model's class names (``model.stviz_labels``).
    backend : str, optional
        Plugin name (``"torch"``, ``"keras"``); found from the model otherwise.
    backend_options : dict, optional
        Passed to the plugin's ``create`` (e.g. dtype or device choices).
    plugins : mapping, optional
        Plugins to choose from instead of the installed entry points.
    **options
        Passed to :func:`stviz_core.ascend` (``preset``, ``steps``, ``seed``, ...).

    Returns
    -------
    Result
    """
    if (channels is None) == (objective is None):
        raise ValueError("give exactly one of channels= and objective=")
    if channels is not None:
        channels = [channels] if isinstance(channels, int) else list(channels)
        objective = [_channel(c) for c in channels]
    plugin = select_plugin(model, backend=backend, available=plugins)
    extra = dict(backend_options or {})
    if layout is not None:
        extra["layout"] = layout
    be = plugin.create(model, layer=layer, inputs=inputs, **extra)
    try:
        labels = getattr(be, "labels", None) or getattr(model, "stviz_labels", None)
        return ascend(be, resolve_classes(objective, labels), **options)
    finally:
        if hasattr(be, "close"):
            be.close()
