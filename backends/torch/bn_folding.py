"""Fold batch normalization into the convolution before it (the paper visualizes folded nets).

In eval mode ``BN(conv(x)) = conv'(x)`` with
``w' = w * g / sqrt(var + eps)`` (per output channel) and
``b' = (b - mean) * g / sqrt(var + eps) + beta``. :func:`fold_batch_norm`
returns a copy of the model with each folded BN replaced by ``nn.Identity``
(so every layer name stays valid); the original model is not touched.
"""

from __future__ import annotations

import copy

__all__ = ["fold_batch_norm", "fold_pairs"]


def fold_pairs(model) -> list:
    """``[(conv name, bn name), ...]``: each BN whose only input is a convolution used nowhere else.

    Found on the ``torch.fx`` graph; for a model fx cannot trace, adjacent
    ``(conv, bn)`` children of ``nn.Sequential`` containers.
    """
    import torch
    import torch.fx
    from torch import nn

    convs = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
    bns = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
    modules = dict(model.named_modules())
    try:
        graph = torch.fx.symbolic_trace(model).graph
    except Exception:
        pairs = []
        for parent_name, parent in model.named_modules():
            if isinstance(parent, nn.Sequential):
                children = list(parent.named_children())
                for (a, ma), (b, mb) in zip(children, children[1:]):
                    if isinstance(ma, convs) and isinstance(mb, bns):
                        prefix = f"{parent_name}." if parent_name else ""
                        pairs.append((prefix + a, prefix + b))
        return pairs
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], bns):
            continue
        src = node.args[0] if node.args else None
        if (getattr(src, "op", None) == "call_module" and isinstance(modules[src.target], convs)
                and len(src.users) == 1):
            pairs.append((src.target, node.target))
    return pairs


def fold_batch_norm(model):
    """A copy of ``model`` with every conv -> BN pair folded (2D and 3D).

    The copy gives the same outputs as ``model`` in eval mode (up to rounding).
    BN layers in training mode are folded with their running statistics,
    which is what eval mode uses.
    """
    import torch
    from torch import nn

    folded = copy.deepcopy(model)
    modules = dict(folded.named_modules())
    for conv_name, bn_name in fold_pairs(folded):
        conv, bn = modules[conv_name], modules[bn_name]
        if bn.running_var is None or bn.running_mean is None:
            raise ValueError(f"{bn_name} tracks no running statistics: it cannot be folded")
        with torch.no_grad():
            gamma = bn.weight if bn.affine else torch.ones_like(bn.running_var)
            beta = bn.bias if bn.affine else torch.zeros_like(bn.running_mean)
            scale = gamma / torch.sqrt(bn.running_var + bn.eps)
            shape = (-1,) + (1,) * (conv.weight.ndim - 1)
            conv.weight.copy_(conv.weight * scale.reshape(shape))
            bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
            new_bias = (bias - bn.running_mean) * scale + beta
            if conv.bias is None:
                conv.bias = nn.Parameter(new_bias.to(conv.weight.dtype))
            else:
                conv.bias.copy_(new_bias)
        parent_name, _, child = bn_name.rpartition(".")
        parent = modules[parent_name] if parent_name else folded
        setattr(parent, child, nn.Identity())
    return folded
