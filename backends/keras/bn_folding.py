"""Batch-norm folding for Keras functional models: the twin of :mod:`stviz_backends.torch.bn_folding`.

Each ``BatchNormalization`` (over the last axis) that is called once, on the
output of a convolution (1D-3D) called once whose output feeds nothing else
(no other layer, not a model output), is folded into it
(``w' = w g / sqrt(var + eps)``, ``b' = (b - mean) g / sqrt(var + eps) + beta``,
per output channel) in a clone of the model; the folded BN becomes a
pass-through ``FoldedBatchNorm`` layer of the same name, so every layer name
stays valid. The original model is not touched. A BN after a convolution that
is not safe to fold (the convolution called again, its output used elsewhere,
the BN called twice) is left as it is: :func:`unfolded_keras` lists them with
the reason and :func:`fold_pairs_keras` warns.
"""

from __future__ import annotations

import warnings

import numpy as np

from stviz_core.model_contract import contract_of, declare

from .receptive_field import parent_layers

__all__ = ["fold_batch_norm_keras", "fold_pairs_keras", "unfolded_keras",
           "UnfoldedBatchNormWarning"]


class UnfoldedBatchNormWarning(UserWarning):
    """Batch norm layers after a convolution that could not be folded safely (the reasons)."""


def _analyse(model):
    """``(pairs, skipped)``: foldable ``(conv, bn)`` names, and ``(bn, reason)`` for the others."""
    import keras

    convs = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
    outputs = {id(getattr(t, "_keras_history", (None,))[0]) for t in model.outputs}
    pairs, skipped = [], []
    for layer in model.layers:
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        sources = parent_layers(layer, all_calls=True)
        conv = [s for s in sources if isinstance(s, convs)]
        if not conv:
            continue
        src, bn_calls = conv[0], len(layer._inbound_nodes)
        conv_calls, users = len(src._inbound_nodes), len(src._outbound_nodes)
        if bn_calls != 1 or len(sources) != 1:
            reason = f"{layer.name} is called {bn_calls} times"
        elif conv_calls != 1:
            reason = f"{src.name} is called {conv_calls} times"
        elif users != 1:
            reason = f"{src.name}'s output feeds {users} layers"
        elif id(src) in outputs:
            reason = f"{src.name}'s output is also a model output"
        elif layer.axis not in (-1, [-1], len(layer.input.shape) - 1,
                                [len(layer.input.shape) - 1]):
            reason = f"it normalizes axis {layer.axis}, not the channels (last)"
        else:
            pairs.append((src.name, layer.name))
            continue
        skipped.append((layer.name, reason))
    return pairs, skipped


def fold_pairs_keras(model, *, warn: bool = True) -> list:
    """``[(conv name, bn name), ...]`` of a functional model that are safe to fold.

    Parameters
    ----------
    model : keras.Model
    warn : bool
        Warn (:class:`UnfoldedBatchNormWarning`) about BN layers after a
        convolution that are left unfolded, with the reason for each.
    """
    pairs, skipped = _analyse(model)
    if warn and skipped:
        listed = "; ".join(f"{bn} ({why})" for bn, why in skipped)
        warnings.warn(f"batch norm left unfolded (not safe to fold): {listed}; they run as they "
                      "are, which computes the same function in inference mode",
                      UnfoldedBatchNormWarning, stacklevel=2)
    return pairs


def unfolded_keras(model) -> list:
    """``[(bn name, reason), ...]``: BN layers after a convolution that folding leaves as they are."""
    return _analyse(model)[1]


def fold_batch_norm_keras(model):
    """A clone of ``model`` with every conv -> BN pair folded; the same outputs in inference mode."""
    import keras

    pairs = dict(fold_pairs_keras(model, warn=False))
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
        if layer.name in folded_bns or not layer.weights:
            continue  # (an unnamed Input is renamed in the clone: look up only layers with weights)
        target = copy.get_layer(layer.name)
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
        else:
            target.set_weights(layer.get_weights())
    declare(copy, **contract_of(model).declared())  # the copy declares what the model declares
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
