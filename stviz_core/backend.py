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

Optional: ``activation_shape`` (the shape of ``A``, known at construction),
``used_inputs`` (the inputs the target layer depends on; all when absent),
``receptive_field() -> (rf, stride)``, ``describe() -> dict`` (recorded
in results), ``close()`` (release hooks; called by :func:`stviz_core.visualize`
even when the run fails), ``labels`` (the model's class names in logit order,
against which :func:`stviz_core.visualize` resolves ``class_logit("name")``).

A *plugin* makes backends for one framework. Plugins register under the
entry-point group ``stviz.backends`` and provide ``accepts(model) -> bool``
(checking ``sys.modules`` first, so no framework is imported just to say no)
and ``create(model, *, layer, inputs, **options) -> backend``, plus the optional
hooks ``weights``, ``prepare``, ``file_suffixes``/``load_file``,
``receptive_fields`` and ``set_threads`` that the adapters use instead of
testing a framework's name (the table in ``docs/architecture.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any, Mapping, Protocol, runtime_checkable

from ._checks import choice

__all__ = ["InputSpec", "input_specs", "role_from_name", "Backend", "Plugin", "plugins", "select_plugin",
           "ENTRY_POINT_GROUP"]

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
    """What :func:`stviz_core.ascend` needs from a framework (see module notes)."""

    name: str
    inputs: Mapping[str, InputSpec]
    xp: Any
    dtype: Any
    device: Any

    def activations(self, inputs): ...

    def vjp(self, cotangent): ...


@runtime_checkable
class Plugin(Protocol):
    """A factory of backends for one framework."""

    name: str

    def accepts(self, model) -> bool: ...

    def create(self, model, *, layer, inputs, **options): ...


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
