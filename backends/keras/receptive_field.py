"""Receptive fields of a Keras functional model's layers, by the rules of :mod:`stviz_backends.torch.receptive_field`.

Walks the model's layers in graph order; each layer's inputs are the layers
that produced its input tensors. Convolutions and poolings (1D-3D) grow the
field by ``(k - 1) * dilation * jump`` and multiply the jump by the stride; a
Flatten, Dense or global pooling sees the whole input; everything else
(activations, padding, concatenation, addition, reshapes that keep the
spatial grid) keeps the largest field of its inputs.

Custom layers: one with ``pool_size`` and ``strides`` attributes grows the
field like a pooling (``BlockMaxPooling3D``, the "SAME" max pooling of
Kinetics I3D in float64); one whose ``sees_whole_input`` attribute is ``True``
sees the whole input (a head that averages over every position).
"""

from __future__ import annotations

__all__ = ["receptive_field", "receptive_fields"]

_GLOBAL = "global"


def receptive_fields(model, input_size=None) -> dict:
    """``{layer name: (rf, stride)}`` for every layer of a functional Keras model."""
    import keras

    try:
        ops = list(model.operations)
        model.inputs  # noqa: B018 - raises for subclassed models
    except (AttributeError, ValueError):
        raise ValueError(
            f"{model.name} is not a functional model: its graph cannot be walked; "
            "pass rho= and stride="
        ) from None
    L = keras.layers
    convs = (L.Conv1D, L.Conv2D, L.Conv3D)
    pools = (L.MaxPooling1D, L.MaxPooling2D, L.MaxPooling3D,
             L.AveragePooling1D, L.AveragePooling2D, L.AveragePooling3D)
    globals_ = (L.Flatten, L.Dense, L.GlobalAveragePooling1D, L.GlobalAveragePooling2D,
                L.GlobalAveragePooling3D, L.GlobalMaxPooling1D, L.GlobalMaxPooling2D,
                L.GlobalMaxPooling3D)
    info = {}
    for op in ops:
        parents = _parents(op)
        if not parents:
            info[op.name] = ((1, 1), (1, 1))
            continue
        ins = [info[p] for p in parents if p in info]
        jump = tuple(max(i[1][a] for i in ins) for a in range(2))
        if any(i[0] == _GLOBAL for i in ins):
            info[op.name] = (_GLOBAL, jump)
            continue
        rf = tuple(max(i[0][a] for i in ins) for a in range(2))
        if isinstance(op, convs):
            k, s, d = _hw(op.kernel_size), _hw(op.strides), _hw(op.dilation_rate)
            info[op.name] = _grow(rf, jump, k, s, d)
        elif isinstance(op, pools) or _custom_pooling(op):
            info[op.name] = _grow(rf, jump, _hw(op.pool_size), _hw(op.strides), (1, 1))
        elif isinstance(op, globals_) or getattr(op, "sees_whole_input", False) is True:
            info[op.name] = (_GLOBAL, jump)
        else:
            info[op.name] = (rf, jump)
    out = {}
    for name, (rf, jump) in info.items():
        if rf == _GLOBAL:
            out[name] = (int(input_size), int(max(jump))) if input_size else None
        else:
            out[name] = (int(max(rf)), int(max(jump)))
    return out


def receptive_field(model, layer: str, input_size=None):
    """``(rf, stride)`` of ``layer`` (see :func:`stviz_backends.torch.receptive_field.receptive_field`)."""
    fields = receptive_fields(model, input_size)
    if layer not in fields:
        raise ValueError(f"the model has no layer {layer!r}")
    if fields[layer] is None:
        raise ValueError(f"layer {layer!r} sees the whole input: give input_size")
    return fields[layer]


def parent_layers(op, *, all_calls: bool = False) -> list:
    """The layers whose outputs ``op`` takes at its first call (or over all of its calls), in
    input order."""
    parents = []
    nodes = getattr(op, "_inbound_nodes", [])
    for node in nodes if all_calls else nodes[:1]:
        for t in node.input_tensors:
            history = getattr(t, "_keras_history", None)
            if history is not None and history.operation is not op:
                parents.append(history.operation)
    return parents


def _parents(op):
    return [parent.name for parent in parent_layers(op)]


def _custom_pooling(op):
    return hasattr(op, "pool_size") and hasattr(op, "strides")


def _hw(value):
    t = tuple(value) if isinstance(value, (tuple, list)) else (value,)
    return (t[-2], t[-1]) if len(t) >= 2 else (1, t[-1])


def _grow(rf, jump, k, s, d):
    return (tuple(rf[a] + (k[a] - 1) * d[a] * jump[a] for a in range(2)),
            tuple(jump[a] * s[a] for a in range(2)))
