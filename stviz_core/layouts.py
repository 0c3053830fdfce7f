"""Layouts: how the kernel's canonical inputs ``(N, T, H, W, C)`` become a model's arguments.

``docs/architecture.md`` sec. 3:

==========================  =====================================  ======================
family                      PyTorch model input                    Keras model input
==========================  =====================================  ======================
2D two-stream, flow of L    rgb ``(N,3,H,W)``, flow ``(N,2L,H,W)``  ``(N,H,W,3)``,
                            channels ``u1,v1,u2,v2,...``            ``(N,H,W,2L)``
3D convnet (C3D, I3D)       ``(N,C,T,H,W)``                         ``(N,T,H,W,C)``
video transformer (HF)      ``(N,T,C,H,W)`` (``Frames3D``)           ``(N,T,H,W,C)``
==========================  =====================================  ======================

A layout names the model's inputs in call order, their canonical shapes and
roles, and converts between the two forms with the array namespace's own ops,
so the conversion is differentiable in every framework (the backend takes
gradients through it). Both directions are provided for tools that move data
in and out of models (weight porting, recording, media).
"""

from __future__ import annotations

from dataclasses import dataclass

from stviz_core.backend import InputSpec, role_from_name
from stviz_core.model_contract import contract_of

__all__ = ["Layout", "TwoStream2D", "Clip3D", "Image2D", "StackedFlow2D", "Frames3D", "to_model",
           "from_model", "resolve"]


@dataclass(frozen=True)
class Layout:
    """Base layout: ``streams`` is ``((name, kind), ...)`` in the model's call order.

    ``kind`` is ``"image"`` (one frame, ``T = 1``), ``"stacked"`` (``T`` flow
    frames stacked on channels), ``"clip"`` (a 3D-conv clip) or ``"frames"``
    (a clip with time before channels, ``(N, T, C, H, W)``: Hugging Face video
    models' ``pixel_values``). ``tokens`` is how a transformer's token
    sequences map back to their ``(T', H', W')`` grid, a framework's own
    description (e.g. ``stviz_backends.torch.tokens.TokenGrid``); the kernel
    only carries it to the backend. None: a model without token layers.
    """

    streams: tuple
    channels_first: bool = True
    tokens: object = None

    @property
    def names(self) -> tuple:
        return tuple(name for name, _ in self.streams)

    def specs(self, shapes) -> dict:
        """``{name: InputSpec}`` from ``{name: (T, H, W, C)}``, checked against the layout."""
        missing = set(self.names) - set(shapes)
        extra = set(shapes) - set(self.names)
        if missing or extra:
            raise ValueError(
                f"{type(self).__name__} expects inputs {list(self.names)}, got {sorted(shapes)}"
            )
        specs = {}
        for name, kind in self.streams:
            spec = shapes[name]
            if not isinstance(spec, InputSpec):
                role = "motion" if kind == "stacked" else role_from_name(name)
                spec = InputSpec(tuple(spec), role)
            if kind == "image" and spec.shape[0] != 1:
                raise ValueError(
                    f"input {name!r} is a single image: its canonical shape is (1, H, W, C), "
                    f"got {spec.shape}"
                )
            if kind == "stacked" and spec.shape[3] != 2:
                raise ValueError(
                    f"input {name!r} is stacked optical flow: its canonical shape is "
                    f"(L, H, W, 2) with (u, v) channels, got {spec.shape}"
                )
            specs[name] = spec
        return specs

    def describe(self, specs) -> str:
        """What the model receives, e.g. ``rgb (N, 3, 112, 112), flow (N, 20, 112, 112)``."""
        return ", ".join(f"{n} {model_shape(kind, specs[n].shape, self.channels_first)}"
                         for n, kind in self.streams)


def model_shape(kind, shape, channels_first=True):
    """The model-side shape (with a symbolic N) of one canonical ``(T, H, W, C)`` input."""
    t, h, w, c = shape
    if kind == "image":
        dims = (c, h, w) if channels_first else (h, w, c)
    elif kind == "stacked":
        dims = (c * t, h, w) if channels_first else (h, w, c * t)
    elif kind == "frames":
        dims = (t, c, h, w) if channels_first else (t, h, w, c)
    else:
        dims = (c, t, h, w) if channels_first else (t, h, w, c)
    return "(N, " + ", ".join(map(str, dims)) + ")"


def to_model(layout: Layout, inputs, xp) -> tuple:
    """Canonical ``{name: (N, T, H, W, C)}`` to the model's positional arguments."""
    return tuple(_to(kind, inputs[name], layout.channels_first, xp) for name, kind in layout.streams)


def from_model(layout: Layout, args, xp) -> dict:
    """The model's positional arguments back to canonical ``{name: (N, T, H, W, C)}``."""
    return {name: _from(kind, a, layout.channels_first, xp)
            for (name, kind), a in zip(layout.streams, args, strict=True)}


def _to(kind, x, channels_first, xp):
    n, t, h, w, c = x.shape
    if kind == "image":
        x = xp.reshape(x, (n, h, w, c))
        return xp.permute_dims(x, (0, 3, 1, 2)) if channels_first else x
    if kind == "stacked":  # channels u1, v1, u2, v2, ...: frame-major, then component
        x = xp.reshape(xp.permute_dims(x, (0, 2, 3, 1, 4)), (n, h, w, t * c))
        return xp.permute_dims(x, (0, 3, 1, 2)) if channels_first else x
    if kind == "frames":
        return xp.permute_dims(x, (0, 1, 4, 2, 3)) if channels_first else x
    return xp.permute_dims(x, (0, 4, 1, 2, 3)) if channels_first else x


def _from(kind, a, channels_first, xp):
    if kind == "image":
        if channels_first:
            a = xp.permute_dims(a, (0, 2, 3, 1))
        n, h, w, c = a.shape
        return xp.reshape(a, (n, 1, h, w, c))
    if kind == "stacked":
        if channels_first:
            a = xp.permute_dims(a, (0, 2, 3, 1))
        n, h, w, tc = a.shape
        return xp.permute_dims(xp.reshape(a, (n, h, w, tc // 2, 2)), (0, 3, 1, 2, 4))
    if kind == "frames":
        return xp.permute_dims(a, (0, 1, 3, 4, 2)) if channels_first else a
    return xp.permute_dims(a, (0, 2, 3, 4, 1)) if channels_first else a


def TwoStream2D(rgb: str = "rgb", flow: str = "flow", *, channels_first: bool = True) -> Layout:
    """A 2D two-stream net called as ``model(rgb, flow)``: one RGB frame, L stacked flows."""
    return Layout(((rgb, "image"), (flow, "stacked")), channels_first)


def Clip3D(clip: str = "clip", *, channels_first: bool = True) -> Layout:
    """A 3D convnet called as ``model(clip)`` with ``(N, C, T, H, W)`` (PyTorch)."""
    return Layout(((clip, "clip"),), channels_first)


def Frames3D(frames: str = "pixel_values", *, tokens=None, channels_first: bool = True) -> Layout:
    """A video model called as ``model(frames)`` with ``(N, T, C, H, W)`` (Hugging Face video
    transformers); ``tokens`` maps its token sequences to their grid (see :class:`Layout`)."""
    return Layout(((frames, "clip" if not channels_first else "frames"),), channels_first, tokens)


def Image2D(image: str = "rgb", *, channels_first: bool = True) -> Layout:
    """A 2D image net (one appearance stream) called as ``model(image)``."""
    return Layout(((image, "image"),), channels_first)


def StackedFlow2D(flow: str = "flow", *, channels_first: bool = True) -> Layout:
    """A 2D motion-stream net called as ``model(flow)`` with L flows stacked on channels."""
    return Layout(((flow, "stacked"),), channels_first)


def resolve(model, layout=None, inputs=None, *, channels_first=True):
    """The layout and input specs for ``model``: given, or from its contract
    (:func:`stviz_core.model_contract.contract_of`: ``model.stviz_layout`` / ``stviz_inputs``).

    Raises a ``ValueError`` saying what to pass when either is missing, or when
    the layout's channel order is not the framework's (``channels_first``).
    """
    declared = contract_of(model) if layout is None or inputs is None else None
    layout = layout if layout is not None else declared.layout
    example = "TwoStream2D()" if channels_first else "TwoStream2D(channels_first=False)"
    if layout is None:
        raise ValueError(
            f"tell stviz how to call this model: pass layout= (e.g. stviz_core.layouts."
            f"{example} or Clip3D()) or declare it: stviz_core.declare(model, layout=...)"
        )
    if layout.channels_first != channels_first:
        order = "channels-first" if channels_first else "channels-last"
        raise ValueError(
            f"this framework's models take {order} inputs: use a layout with "
            f"channels_first={channels_first}"
        )
    shapes = inputs if inputs is not None else declared.inputs
    if shapes is None:
        raise ValueError(
            f"give the input shapes: inputs={{name: (T, H, W, C)}} for {list(layout.names)}"
        )
    return layout, layout.specs(shapes)
