"""The backend contract and plugin discovery (``docs/architecture.md``, sec. 2).

A *backend* wraps one model and one target layer. The kernel needs:

``inputs``
    ``{name: InputSpec}``: per-visualization canonical shape ``(T, H, W, C)``
    and role (``"appearance"`` or ``"motion"``) of each model input.
``xp``, ``dtype``, ``device``
    Where the kernel's arrays live (an array-API namespace, its dtype, device).
``activations(inputs, *, for_vjp=True) -> A``
    The target layer's output for ``{name: (N, T, H, W, C) array}``, batch first
    and channels last (``for_vjp=False``: no VJP follows, e.g. recording).
``vjp(cotangent) -> {name: array}``
    Gradient of ``<A, cotangent>`` w.r.t. each input of the *last* call to
    ``activations``, in canonical layout.

Optional members (:data:`BACKEND_OPTIONAL`, read through :func:`backend_member`,
which gives a backend without one the documented default): ``activation_shape``
(the shape of ``A``, known at construction), ``used_inputs`` (the inputs the
target layer depends on; all when absent), ``layer`` (the target's name),
``labels`` (the model's class names in logit order, against which
:func:`stviz_core.visualize` resolves ``class_logit("name")``),
``receptive_field() -> (rf, stride)``, ``describe() -> dict`` (recorded in
results) and ``close()`` (release hooks; called by :func:`stviz_core.visualize`
even when the run fails).

A *plugin* makes backends for one framework. Plugins register under the
entry-point group ``stviz.backends`` and provide ``name``, ``accepts(model) -> bool``
(checking ``sys.modules`` first, so no framework is imported just to say no)
and ``create(model, *, layer, inputs, **options) -> backend``, plus the optional
hooks of :data:`PLUGIN_OPTIONAL` (``weights``, ``prepare``, ``file_suffixes``,
``load_file``, ``receptive_fields``, ``set_threads``, ``backend_options``), read
through :func:`plugin_hook`, that the adapters use instead of testing a
framework's name (the table in ``docs/architecture.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Mapping, Protocol, runtime_checkable

from ._checks import choice

__all__ = ["InputSpec", "input_specs", "role_from_name", "Backend", "Plugin", "plugins", "select_plugin",
           "ENTRY_POINT_GROUP", "OptionalMember", "BACKEND_OPTIONAL", "PLUGIN_OPTIONAL", "backend_member",
           "plugin_hook"]

ENTRY_POINT_GROUP = "stviz.backends"


@dataclass(frozen=True)
class InputSpec:
    """One model input: canonical per-visualization shape and its role.

    Parameters
    ----------
    shape : tuple of int
        ``(T, H, W, C)``.
    role : {"appearance", "motion"}
        Which regularization of a preset applies.
    """

    shape: tuple
    role: str = "appearance"

    def __post_init__(self):
        shape = tuple(int(d) for d in self.shape)
        if len(shape) != 4 or min(shape) < 1:
            raise ValueError(
                f"an input shape is (T, H, W, C) with every size >= 1, got {self.shape}"
            )
        object.__setattr__(self, "shape", shape)
        choice(self.role, "input role", ("appearance", "motion"))


def role_from_name(name: str) -> str:
    """``"motion"`` for names containing ``"flow"`` or ``"motion"``, else ``"appearance"``."""
    return "motion" if any(word in name.lower() for word in ("flow", "motion")) else "appearance"


def input_specs(inputs: Mapping) -> dict:
    """Normalize ``{name: InputSpec | (T, H, W, C) | ((T, H, W, C), role)}`` to InputSpecs.

    A bare shape takes its role from the name: names containing ``"flow"`` or
    ``"motion"`` are motion inputs, all others appearance.
    """
    specs = {}
    for name, value in dict(inputs).items():
        if isinstance(value, InputSpec):
            specs[name] = value
        elif len(value) == 2 and not isinstance(value[0], int):
            specs[name] = InputSpec(tuple(value[0]), value[1])
        else:
            specs[name] = InputSpec(tuple(value), role_from_name(name))
    return specs


@runtime_checkable
class Backend(Protocol):
    """What :func:`stviz_core.ascend` needs from a framework (see module notes).

    The required members; the optional ones, with what their absence stands for,
    are :data:`BACKEND_OPTIONAL`, read through :func:`backend_member`.
    """

    name: str
    inputs: Mapping[str, InputSpec]
    xp: Any
    dtype: Any
    device: Any

    def activations(self, inputs): ...

    def vjp(self, cotangent): ...


@runtime_checkable
class Plugin(Protocol):
    """A factory of backends for one framework.

    The required hooks; the optional ones, with what their absence stands for, are
    :data:`PLUGIN_OPTIONAL`, read through :func:`plugin_hook`.
    """

    name: str

    def accepts(self, model) -> bool: ...

    def create(self, model, *, layer, inputs, **options): ...


@dataclass(frozen=True)
class OptionalMember:
    """An optional member of a backend or plugin: what it is, and what its absence stands for.

    Parameters
    ----------
    meaning : str
        What the member is (its signature for a method).
    default : callable
        ``default(owner)``: the value that stands for the member on an ``owner``
        without it (for a method, a function with the method's signature).
    """

    meaning: str
    default: Any


def _value(value):
    return lambda owner: value


def _returning(value):
    return lambda owner: lambda *args, **kwargs: value


def _refusing(what):
    def default(owner):
        def refuse(*args, **kwargs):
            raise ValueError(f"the {getattr(owner, 'name', type(owner).__name__)} plugin {what}")
        return refuse
    return default


#: the optional members of a backend, and what a backend without one stands for
BACKEND_OPTIONAL = {
    "activation_shape": OptionalMember("the shape of A for one visualization, known at construction; "
                                 "None: unknown until the first forward pass", _value(None)),
    "used_inputs": OptionalMember("the names of the inputs the target layer depends on; None: all",
                            _value(None)),
    "layer": OptionalMember("the target layer's name; None: unnamed", _value(None)),
    "labels": OptionalMember("the model's class names in logit order; None: none", _value(None)),
    "receptive_field": OptionalMember("receptive_field() -> (rf, stride), or None when unknown (rho 1, "
                                "no jitter); absent: None", _returning(None)),
    "describe": OptionalMember("describe() -> dict recorded in results; absent: {}",
                         lambda owner: lambda: {}),
    "close": OptionalMember("close() removes hooks and restores modes; absent: nothing to release",
                      _returning(None)),
    # issue 27: the thread policy (stviz_core.threads) and the transforms' resampling
    "step_flops": OptionalMember("floating-point operations of one visualization's step (forward "
                                 "to the target and the input gradient); None: unknown",
                                 _value(None)),
    "set_threads": OptionalMember("set_threads(record) applies record['threads'] (once per change), "
                                  "keeps the record for describe() and returns it; absent: the "
                                  "record, not applied", lambda owner: _not_applied),
    "resample": OptionalMember("resample(x, at) -> (y, pullback): x (N, T, H', W', C) read "
                               "bilinearly at the points at (N, H, W, 2) (x, y in pixels, 0 "
                               "outside) and the adjoint; absent: stviz_core.resample's array-API "
                               "version", _value(None)),
    "compiled": OptionalMember("compiled(fn) -> fn compiled (e.g. torch.compile: one graph), fn a "
                               "pure function of arrays and static settings (stviz_core.run.fused: "
                               "a step's penalties and Adam); absent or None: the eager step",
                               _value(None)),
}


def _not_applied(record):
    return dict(record, applied=False, note="the backend cannot set its threads")

#: the optional hooks of a plugin, and what a plugin without one stands for
PLUGIN_OPTIONAL = {
    "weights": OptionalMember("weights(model) -> iterable of (name, numpy array), in order; absent: "
                        "a ValueError", _refusing("cannot list a model's weights")),
    "prepare": OptionalMember("prepare(model, *, dtype=None, device=None) -> the model placed and cast "
                        "(None keeps that property); absent: a ValueError",
                        _refusing("cannot move or cast a model")),
    "file_suffixes": OptionalMember("the suffixes of the model files it opens; absent: ()", _value(())),
    "load_file": OptionalMember("load_file(path, *, trust_pickle) -> model; absent: a ValueError",
                          _refusing("opens no model files")),
    "receptive_fields": OptionalMember("receptive_fields(model, input_size=None) -> {layer: (rf, "
                                 "stride)}; absent: a ValueError",
                                 _refusing("cannot find receptive fields")),
    "set_threads": OptionalMember("set_threads(n) limits the framework's intra-op threads; absent: "
                            "nothing to do", _returning(None)),
    "backend_options": OptionalMember("the names of the keyword options create() takes; absent: ()",
                                _value(())),
}


def backend_member(backend, name: str):
    """``backend.<name>``, or the default of :data:`BACKEND_OPTIONAL` when the backend has none.

    Raises
    ------
    ValueError
        If ``name`` is not an optional member of the contract.
    """
    return _optional(backend, choice(name, "optional backend member", tuple(BACKEND_OPTIONAL)),
                     BACKEND_OPTIONAL)


def plugin_hook(plugin, name: str):
    """``plugin.<name>``, or the default of :data:`PLUGIN_OPTIONAL` when the plugin has none.

    Raises
    ------
    ValueError
        If ``name`` is not an optional plugin hook.
    """
    return _optional(plugin, choice(name, "optional plugin hook", tuple(PLUGIN_OPTIONAL)),
                     PLUGIN_OPTIONAL)


def _optional(owner, name, table):
    value = getattr(owner, name, None)
    return table[name].default(owner) if value is None else value


def plugins() -> dict:
    """Installed plugins by name, loaded from the ``stviz.backends`` entry points."""
    found = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found[ep.name] = ep
    return found


def select_plugin(model, *, backend=None, available=None):
    """The plugin for ``model``: the one named ``backend``, or the first that accepts it.

    Parameters
    ----------
    model : object
    backend : str, optional
        A plugin name, e.g. ``"torch"``.
    available : mapping, optional
        ``{name: plugin or entry point}``; the installed entry points by default.

    Raises
    ------
    ValueError
        If ``backend`` names no installed plugin, or no plugin accepts ``model``;
        the message lists the installed plugins.
    """
    available = plugins() if available is None else dict(available)
    names = tuple(sorted(available))
    if backend is not None:
        plugin = _load(available[choice(backend, "backend", names)])
        if model is not None and not plugin.accepts(model):
            fits = [n for n in names if n != backend and _load(available[n]).accepts(model)]
            raise ValueError(
                f"backend {backend!r} does not take a model of type {type(model).__module__}."
                f"{type(model).__qualname__}" + (f"; it is a {fits[0]!r} model" if fits else ""))
        return plugin
    for name in names:
        plugin = _load(available[name])
        if plugin.accepts(model):
            return plugin
    raise ValueError(
        f"no installed backend accepts a model of type {type(model).__module__}."
        f"{type(model).__qualname__}; installed backends: {', '.join(names) or 'none'} "
        f"(install stviz[torch] or stviz[keras])"
    )


def _load(plugin):
    return plugin.load() if hasattr(plugin, "load") and hasattr(plugin, "group") else plugin
