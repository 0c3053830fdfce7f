"""The one-call entry point: pick a backend plugin for a model and run the ascent."""

from __future__ import annotations

from contextlib import contextmanager

from . import inversion
from .backend import backend_member, select_plugin
from .model_contract import contract_of
from .run.loop import ascend
from .objectives import channel as _channel
from .objectives import resolve_classes

__all__ = ["visualize", "invert", "accentuate"]


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
        The run's options, as :func:`stviz_core.ascend` takes them: a record
        (``options=sv.RunOptions(...)``) and/or options by name (``preset``, a
        Preset or its name such as ``"fourier"``; ``steps``, ``seed``, ``init`` to
        start from a clip or continue a Result, ...: :class:`stviz_core.RunOptions`).
        The preset defaults to :data:`stviz_core.presets.DEFAULT` (``"canvas"``, the
        best measured on the Kinetics-400 I3D; README); ``preset="paper"`` runs the
        paper's method literally.

    Returns
    -------
    Result
    """
    objective = _units(channels, objective)
    with _opened(model, layer, inputs, layout, backend, backend_options, plugins) as be:
        return ascend(be, resolve_classes(objective, _labels(be, model)), **options)


def invert(model, layer: str, clip, *, inputs=None, layout=None, backend=None,
           backend_options=None, plugins=None, **options):
    """Reconstruct ``clip`` from its code at ``layer`` of ``model`` (feature inversion).

    See :func:`stviz_core.inversion.invert`: noise is optimized until its code
    at ``layer`` matches the clip's (``feature_match``), under the preset's
    regularizers; a two-stream model's inputs are inverted jointly from a
    layer that sees both.

    Parameters
    ----------
    model, layer, inputs, layout, backend, backend_options, plugins
        As in :func:`visualize`.
    clip : mapping, Clip or Result
        ``{name: (N, T, H, W, C)}`` for every input of the model (read a video
        with ``stviz_adapters.clips.load_clip``).
    **options
        Passed to :func:`stviz_core.inversion.invert` and on to
        :func:`stviz_core.ascend` (``preset``, ``paper`` by default; ``steps``, ``seed``,
        ``jitter``, ...).

    Returns
    -------
    Result
        With ``config["inversion"]`` (the normalized feature error reached, the
        correlation with the clip).
    """
    with _opened(model, layer, inputs, layout, backend, backend_options, plugins) as be:
        return inversion.invert(be, clip, **options)


def accentuate(model, layer: str, clip, channels=None, *, objective=None, feature_weight=1.0,
               pixel_weight=0.0, inputs=None, layout=None, backend=None, backend_options=None,
               plugins=None, **options):
    """Strengthen units of ``layer`` in a real clip: maximize them from the clip, kept near it.

    See :func:`stviz_core.inversion.accentuate`.

    Parameters
    ----------
    model, layer, channels, objective, inputs, layout, backend, backend_options, plugins
        As in :func:`visualize` (one visualization per channel or objective).
    clip : mapping, Clip or Result
        The real clip every visualization starts from.
    feature_weight, pixel_weight : float
        Weights of the feature-matching and the pixel-distance terms that keep
        the input near the clip (``config["accentuation"]`` records both).
    **options
        Passed to :func:`stviz_core.ascend` (``preset``: ``paper`` by default, as :func:`invert`).

    Returns
    -------
    Result
    """
    objective = _units(channels, objective)
    with _opened(model, layer, inputs, layout, backend, backend_options, plugins) as be:
        return inversion.accentuate(be, clip, resolve_classes(objective, _labels(be, model)),
                                    feature_weight=feature_weight, pixel_weight=pixel_weight,
                                    **options)


def _units(channels, objective):
    if (channels is None) == (objective is None):
        raise ValueError("give exactly one of channels= and objective=")
    if channels is not None:
        if isinstance(channels, (str, bytes)) or not hasattr(channels, "__iter__"):
            channels = [channels]  # one channel: an int, a numpy integer (checked by channel())
        channels = list(channels)
        if not channels:
            raise ValueError("channels= is empty: give a channel number or a list of them, e.g. "
                             "channels=[0, 3]")
        objective = [_channel(c) for c in channels]
    return objective


def _labels(be, model):
    return backend_member(be, "labels") or contract_of(model).labels


@contextmanager
def _opened(model, layer, inputs, layout, backend, backend_options, plugins):
    """The plugin's backend on ``model`` at ``layer``, closed afterwards even when the run fails."""
    plugin = select_plugin(model, backend=backend, available=plugins)
    extra = dict(backend_options or {})
    if layout is not None:
        extra["layout"] = layout
    be = plugin.create(model, layer=layer, inputs=inputs, **extra)
    try:
        yield be
    finally:
        backend_member(be, "close")()
