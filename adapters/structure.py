"""What a model's structure says, in any framework: receptive fields and strides of its layers.

The model's backend plugin does the work (its ``receptive_fields`` hook), so
these functions take a PyTorch or a Keras model alike.
"""

from __future__ import annotations

from stviz_core.backend import select_plugin
from stviz_core.names import closest_names

__all__ = ["receptive_field", "receptive_fields"]


def receptive_fields(model, input_size=None) -> dict:
    """``{layer: (rf, stride)}`` for every layer of ``model``, in input pixels.

    Parameters
    ----------
    model : torch.nn.Module or keras.Model
    input_size : int or tuple, optional
        The input's spatial size, or its canonical shape ``(T, H, W, C)``: a
        layer that sees the whole input (after a flatten or a global pooling)
        gets ``max(H, W)``.
    """
    if input_size is not None and not isinstance(input_size, int):
        shape = tuple(input_size)
        if len(shape) != 4:
            raise ValueError(f"input_size is an int or the canonical (T, H, W, C), got {shape}")
        input_size = max(shape[1], shape[2])
    return select_plugin(model).receptive_fields(model, input_size)


def receptive_field(model, layer: str, input_size=None) -> tuple:
    """``(rf, stride)`` of ``layer`` (see :func:`receptive_fields`); an unknown layer lists close names."""
    fields = receptive_fields(model, input_size)
    if layer not in fields:
        raise ValueError(f"the model has no layer {layer!r}; closest names: "
                         f"{', '.join(closest_names(layer, fields)) or 'none'}")
    return fields[layer]
