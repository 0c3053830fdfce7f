"""The Keras 3 (TensorFlow) plugin of stviz (entry point ``keras`` of the ``stviz.backends`` group).

The plugin functions below are what the kernel and the adapters ask of a
framework (``docs/architecture.md``, "The plugin hooks"). :func:`accepts` looks
in ``sys.modules`` first, so asking never imports Keras, and nothing here
imports PyTorch.

Modules: :mod:`.backend` (:class:`KerasBackend`, the backend contract),
:mod:`.receptive_field` (field and stride from the functional graph),
:mod:`.bn_folding` (conv -> BN pairs folded on a clone).
"""

from __future__ import annotations

import sys

import numpy as np

from .backend import KerasBackend

__all__ = ["name", "file_suffixes", "accepts", "create", "weights", "prepare", "load_file",
           "receptive_fields", "set_threads", "KerasBackend"]

name = "keras"

#: model files this plugin opens (:func:`load_file`)
file_suffixes = (".keras",)


def accepts(model) -> bool:
    """True for a Keras 3 ``keras.Model`` (checked without importing Keras)."""
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(model, getattr(keras, "Model", ()))


def create(model, *, layer, inputs=None, layout=None, **options):
    """Open a :class:`KerasBackend` on ``model`` at ``layer`` (see its parameters)."""
    return KerasBackend(model, layer, inputs=inputs, layout=layout, **options)


def weights(model):
    """``(path, numpy array)`` for every weight of the model, in order."""
    return ((getattr(w, "path", w.name), np.asarray(w.numpy())) for w in model.weights)


def prepare(model, *, dtype: str | None = None, device: str | None = None):
    """The model itself, after checking that it is built in ``dtype`` and ``device`` applies.

    A Keras model cannot be cast after it is built; build it in the dtype you want.
    None checks nothing for that property.
    """
    if device is not None and device != "cpu" and not device.startswith(("gpu", "cuda")):
        raise ValueError(f"device {device!r} does not apply to a Keras model")
    dtypes = {w.dtype for w in model.weights}
    if dtype is not None and dtypes and dtypes != {dtype}:
        raise ValueError(f"the Keras model's weights are {sorted(dtypes)}, {dtype} was asked "
                         "for: build the model in that dtype")
    return model


def load_file(path, *, trust_pickle: bool = True):
    """The Keras 3 model saved in ``path`` (``.keras``)."""
    import keras

    return keras.saving.load_model(path)


def receptive_fields(model, input_size=None) -> dict:
    """``{layer: (rf, stride)}`` (see :mod:`.receptive_field`)."""
    from .receptive_field import receptive_fields as fields

    return fields(model, input_size)


def set_threads(n: int) -> None:
    """TensorFlow's intra-op threads (:func:`stviz_core.threads.request`): for a TensorFlow not
    yet imported through ``TF_NUM_INTRAOP_THREADS`` (unless set), else while its runtime has not
    started; once started, TensorFlow keeps its pools (the backend records that)."""
    import os

    tf = sys.modules.get("tensorflow")
    if tf is None:
        os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(n))
        return
    try:
        if tf.config.threading.get_intra_op_parallelism_threads() != n:
            tf.config.threading.set_intra_op_parallelism_threads(n)
    except RuntimeError:
        pass  # the runtime has started: recorded by the backend when a run applies it
