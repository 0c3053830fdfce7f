"""Weight porting between a PyTorch model and its Keras twin, in both directions.

Layers are matched by name (the twins in :mod:`stviz_adapters.zoo.vgg_c3d_torch`
and :mod:`stviz_adapters.zoo.vgg_c3d_keras` share them). Per layer type:

=============  ==================  ==================
layer          PyTorch weight      Keras kernel
=============  ==================  ==================
Conv1d/2d/3d   ``(O, I, *k)``      ``(*k, I, O)``
Linear         ``(O, I)``          ``(I, O)``
BatchNorm1-3d  weight, bias,       gamma, beta,
               running mean, var   moving mean, variance
=============  ==================  ==================

A dense layer right after a flatten needs its input features reordered:
PyTorch flattens ``(C, T, H, W)``, Keras ``(T, H, W, C)``. The PyTorch model
says which layers those are and the shape flattened into them, in
``stviz_flatten = {"fc6": (C, T, H, W)}`` (or ``flatten=`` here).
"""

from __future__ import annotations

import numpy as np

from stviz_core.model_contract import contract_of

__all__ = ["torch_to_keras", "keras_to_torch", "ported_layers"]


def ported_layers(torch_model) -> list:
    """Names of the PyTorch model's layers that carry weights to port (conv, linear, batch norm)."""
    from torch import nn

    kinds = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, nn.BatchNorm1d, nn.BatchNorm2d,
             nn.BatchNorm3d)
    return [n for n, m in torch_model.named_modules() if isinstance(m, kinds)]


def _is_batch_norm(module):
    from torch import nn

    return isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d))


def _bn_torch_values(module):
    """PyTorch BN state in Keras' weight order: gamma, beta, moving mean, moving variance."""
    import torch

    stats = [module.running_mean, module.running_var]
    affine = [module.weight, module.bias] if module.affine else [
        torch.ones_like(module.running_var), torch.zeros_like(module.running_mean)]
    return [t.detach().cpu().double().numpy() for t in affine + stats]


def _pairs(torch_model, keras_model):
    keras_layers = {layer.name: layer for layer in keras_model.layers}
    modules = dict(torch_model.named_modules())
    names = ported_layers(torch_model)
    missing = [n for n in names if n not in keras_layers]
    if missing:
        raise ValueError(
            f"the Keras model has no layers named {missing[:5]}{' ...' if len(missing) > 5 else ''}; "
            "porting matches layers by name"
        )
    return [(n, modules[n], keras_layers[n]) for n in names]


def _to_keras(weight, flatten_shape):
    if weight.ndim == 2:
        if flatten_shape is not None:
            out = weight.shape[0]
            c = flatten_shape[0]
            weight = weight.reshape(out, c, *flatten_shape[1:])
            weight = np.moveaxis(weight, 1, -1).reshape(out, -1)  # (O, T, H, W, C) flattened
        return weight.T
    return np.transpose(weight, tuple(range(2, weight.ndim)) + (1, 0))


def _to_torch(kernel, flatten_shape):
    if kernel.ndim == 2:
        weight = kernel.T
        if flatten_shape is not None:
            out = weight.shape[0]
            c, rest = flatten_shape[0], tuple(flatten_shape[1:])
            weight = np.moveaxis(weight.reshape(out, *rest, c), -1, 1).reshape(out, -1)
        return weight
    k = kernel.ndim - 2
    return np.transpose(kernel, (k + 1, k) + tuple(range(k)))


def torch_to_keras(torch_model, keras_model, *, flatten=None):
    """Copy every conv and linear weight of ``torch_model`` into the same-named Keras layers.

    Returns ``keras_model``. Values are cast to each Keras layer's dtype.
    """
    flatten = dict(contract_of(torch_model).flatten or {}, **(flatten or {}))
    for name, module, layer in _pairs(torch_model, keras_model):
        if _is_batch_norm(module):
            values = _bn_torch_values(module)
            if abs(getattr(layer, "epsilon", module.eps) - module.eps) > 1e-12:
                raise ValueError(f"{name}: epsilon {module.eps} in PyTorch, {layer.epsilon} in Keras")
        else:
            weight = module.weight.detach().cpu().double().numpy()
            values = [_to_keras(weight, flatten.get(name))] + (
                [module.bias.detach().cpu().double().numpy()] if module.bias is not None else [])
        current = layer.get_weights()
        if len(current) != len(values) or any(c.shape != v.shape for c, v in zip(current, values)):
            raise ValueError(
                f"{name}: Keras weights {[c.shape for c in current]} do not match the ported "
                f"{[v.shape for v in values]}"
            )
        layer.set_weights([v.astype(c.dtype) for c, v in zip(current, values, strict=True)])
    return keras_model


def keras_to_torch(keras_model, torch_model, *, flatten=None):
    """Copy every same-named Keras conv and dense weight into ``torch_model``; returns it."""
    import torch

    flatten = dict(contract_of(torch_model).flatten or {}, **(flatten or {}))
    with torch.no_grad():
        for name, module, layer in _pairs(torch_model, keras_model):
            values = layer.get_weights()
            if _is_batch_norm(module):
                targets = [module.weight, module.bias] if module.affine else []
                targets += [module.running_mean, module.running_var]
                for target, value in zip(targets, values[-len(targets):], strict=True):
                    target.copy_(torch.from_numpy(np.asarray(value, np.float64)).to(target))
                continue
            weight = _to_torch(np.asarray(values[0], dtype=np.float64), flatten.get(name))
            if tuple(weight.shape) != tuple(module.weight.shape):
                raise ValueError(
                    f"{name}: PyTorch weight {tuple(module.weight.shape)} does not match the "
                    f"ported {tuple(weight.shape)}"
                )
            module.weight.copy_(torch.from_numpy(np.ascontiguousarray(weight)).to(module.weight))
            if module.bias is not None:
                module.bias.copy_(torch.from_numpy(np.asarray(values[1], np.float64)).to(module.bias))
    return torch_model
