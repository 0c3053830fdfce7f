"""Batch-norm folding for Keras functional models: the twin of :mod:`stviz_backends.torch.bn_folding`.

Each ``BatchNormalization`` whose only input is a convolution (1D-3D) that
feeds nothing else is folded into it (``w' = w g / sqrt(var + eps)``,
``b' = (b - mean) g / sqrt(var + eps) + beta``, per output channel) in a
clone of the model; the folded BN becomes a pass-through ``FoldedBatchNorm``
layer of the same name, so every layer name stays valid. The original model is not touched.
"""

from __future__ import annotations

import numpy as np

__all__ = ["fold_batch_norm_keras", "fold_pairs_keras"]


def _producer(layer):
    """The layer whose output ``layer`` takes, when it is called once on one input; else ``None``."""
    from .receptive_field import parent_layers

    parents = parent_layers(layer)
    once = len(getattr(layer, "_inbound_nodes", [])) == 1
    return parents[0] if once and len(parents) == 1 else None


def fold_pairs_keras(model) -> list:
    """``[(conv name, bn name), ...]`` of a functional model (BN over the channel axis, last)."""
    import keras

    convs = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
    pairs = []
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        src = _producer(layer)
        if (isinstance(src, convs) and len(getattr(src, "_outbound_nodes", [])) == 1
                and layer.axis in (-1, [-1], len(layer.input.shape) - 1,
                                   [len(layer.input.shape) - 1])):
            pairs.append((src.name, layer.name))
    return pairs


def fold_batch_norm_keras(model):
    """A clone of ``model`` with every conv -> BN pair folded; the same outputs in inference mode."""
    import keras

    pairs = dict(fold_pairs_keras(model))
    folded_bns = set(pairs.values())

    def clone(layer):
        config = layer.get_config()
        if layer.name in folded_bns:
            return _folded_class(keras)(name=layer.name, dtype=layer.dtype_policy)
        if layer.name in pairs:
            config["use_bias"] = True
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        target = copy.get_layer(layer.name)
        if layer.name in folded_bns:
            continue
        if layer.name in pairs:
            bn = model.get_layer(pairs[layer.name])
            kernel, *rest = [np.asarray(w, np.float64) for w in layer.get_weights()]
            bias = rest[0] if rest else np.zeros(kernel.shape[-1])
            gamma, beta, mean, var = _bn_values(bn)
            scale = gamma / np.sqrt(var + bn.epsilon)
            values = [kernel * scale, (bias - mean) * scale + beta]
            target.set_weights([v.astype(w.dtype) for v, w in
                                zip(values, [np.asarray(x) for x in target.get_weights()],
                                    strict=True)])
        elif layer.weights:
            target.set_weights(layer.get_weights())
    for attr in ("stviz_layout", "stviz_inputs", "stviz_labels"):
        if hasattr(model, attr):
            setattr(copy, attr, getattr(model, attr))
    return copy


_FOLDED = {}


def _folded_class(keras):
    """The pass-through layer that stands where a folded BN was (takes BN's call arguments)."""
    if "cls" not in _FOLDED:

        class FoldedBatchNorm(keras.layers.Layer):
            """A batch norm folded into the convolution before it: returns its input."""

            def call(self, x, training=None, mask=None):
                return x

            def compute_output_shape(self, shape):
                return shape

        _FOLDED["cls"] = FoldedBatchNorm
    return _FOLDED["cls"]


def _bn_values(bn):
    """gamma, beta, moving mean, moving variance (gamma 1 / beta 0 without scale / center)."""
    weights = {w.path.rsplit("/", 1)[-1]: np.asarray(w.numpy(), np.float64) for w in bn.weights}
    mean, var = weights["moving_mean"], weights["moving_variance"]
    return (weights.get("gamma", np.ones_like(mean)), weights.get("beta", np.zeros_like(mean)),
            mean, var)
