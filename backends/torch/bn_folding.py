"""Fold batch normalization into the convolution before it (the paper visualizes folded nets).

In eval mode ``BN(conv(x)) = conv'(x)`` with
``w' = w * g / sqrt(var + eps)`` (per output channel) and
``b' = (b - mean) * g / sqrt(var + eps) + beta``. :func:`fold_batch_norm`
returns a copy of the model with each folded BN replaced by ``nn.Identity``
(so every layer name stays valid); the original model is not touched.

Only what is safe is folded: a pair ``(conv, bn)`` where every call of the
convolution module feeds that BN and nothing else, and every call of the BN
takes that convolution's output (a conv module called once before one BN
called once, or a block called several times as a whole), and neither
module's weights are read elsewhere. A convolution called again before
another BN, or whose output is also used elsewhere, is left as it is, with
its BN: :func:`unfolded` lists them with the reason, and :func:`fold_pairs`
warns (:class:`UnfoldedBatchNormWarning`). Leaving a BN unfolded changes
nothing the model computes; only its layer stays a layer of its own.
"""

from __future__ import annotations

import copy
import warnings

__all__ = ["fold_batch_norm", "fold_pairs", "unfolded", "UnfoldedBatchNormWarning"]


class UnfoldedBatchNormWarning(UserWarning):
    """Batch norm layers after a convolution that could not be folded safely (the reasons)."""


def fold_pairs(model, *, warn: bool = True) -> list:
    """``[(conv name, bn name), ...]``: the BN layers that can be folded into their convolution.

    Found on the ``torch.fx`` graph (see the module docstring for what is
    safe); for a model fx cannot trace, adjacent ``(conv, bn)`` children of
    ``nn.Sequential`` containers whose modules are registered only there.

    Parameters
    ----------
    model : torch.nn.Module
    warn : bool
        Warn (:class:`UnfoldedBatchNormWarning`) about BN layers after a
        convolution that are left unfolded, with the reason for each.
    """
    pairs, skipped = _analyse(model)
    if warn and skipped:
        warnings.warn(_skipped_message(skipped), UnfoldedBatchNormWarning, stacklevel=2)
    return pairs


def unfolded(model) -> list:
    """``[(bn name, reason), ...]``: BN layers after a convolution that folding leaves as they are."""
    return _analyse(model)[1]


def _skipped_message(skipped) -> str:
    listed = "; ".join(f"{bn} ({why})" for bn, why in skipped)
    return (f"batch norm left unfolded (not safe to fold): {listed}; they run as they are, "
            "which computes the same function in eval mode")


def _analyse(model):
    """``(pairs, skipped)``: foldable ``(conv, bn)`` pairs, and ``(bn, reason)`` for the others."""
    import torch
    import torch.fx
    from torch import nn

    convs = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
    bns = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
    modules = dict(model.named_modules())
    try:
        graph = torch.fx.symbolic_trace(model).graph
    except Exception:
        return _sequential_pairs(model, convs, bns)
    calls, reads = {}, set()
    for node in graph.nodes:
        if node.op == "call_module":
            calls.setdefault(node.target, []).append(node)
        elif node.op == "get_attr":
            reads.add(str(node.target).rpartition(".")[0])
    pairs, skipped = [], []
    for bn_name, bn_calls in calls.items():
        if not isinstance(modules[bn_name], bns):
            continue
        sources = {src.target for src in (n.args[0] if n.args else None for n in bn_calls)
                   if getattr(src, "op", None) == "call_module"
                   and isinstance(modules[src.target], convs)}
        if not sources:
            continue  # no convolution before it: nothing to fold
        reason = _unsafe(bn_name, bn_calls, sources, calls, reads, modules[bn_name])
        if reason:
            skipped.append((bn_name, reason))
        else:
            pairs.append((next(iter(sources)), bn_name))
    return pairs, skipped


def _unsafe(bn_name, bn_calls, sources, calls, reads, bn):
    """Why the BN called as ``bn_calls`` cannot be folded into its convolution; ``None`` if it can."""
    if len(sources) > 1:
        return f"it follows {len(sources)} convolutions: {', '.join(sorted(sources))}"
    conv_name = next(iter(sources))
    conv_calls = calls[conv_name]
    for n in bn_calls:
        src = n.args[0] if n.args else None
        if getattr(src, "target", None) != conv_name or len(n.args) + len(n.kwargs) != 1:
            return f"one of its {len(bn_calls)} calls does not take {conv_name}'s output"
    bn_set = set(bn_calls)
    fed = [n for n in conv_calls if len(n.users) != 1 or next(iter(n.users)) not in bn_set]
    if fed:
        others = sorted({_node_name(u) for n in fed for u in n.users if u not in bn_set})
        times = f" is called {len(conv_calls)} times and" if len(conv_calls) > 1 else ""
        return (f"{conv_name}{times} feeds "
                + (", ".join(others) if others else "nothing in one call") + f" besides {bn_name}")
    if len(conv_calls) != len(bn_calls):
        return f"{conv_name} is called {len(conv_calls)} times, {bn_name} {len(bn_calls)} times"
    for name in (conv_name, bn_name):
        if name in reads:
            return f"{name}'s weights are also read directly"
    if bn.running_var is None or bn.running_mean is None:
        return "it tracks no running statistics"
    return None


def _node_name(node):
    if node.op == "output":
        return "the model output"
    return str(node.target) if node.op == "call_module" else node.name


def _sequential_pairs(model, convs, bns):
    """Adjacent ``(conv, bn)`` children of ``nn.Sequential`` containers (a model fx cannot trace)."""
    from torch import nn

    seen = {}
    for _, m in model.named_modules(remove_duplicate=False):
        seen[id(m)] = seen.get(id(m), 0) + 1
    pairs, skipped = [], []
    for parent_name, parent in model.named_modules():
        if not isinstance(parent, nn.Sequential):
            continue
        children = list(parent.named_children())
        for (a, ma), (b, mb) in zip(children, children[1:]):
            if not (isinstance(ma, convs) and isinstance(mb, bns)):
                continue
            prefix = f"{parent_name}." if parent_name else ""
            if seen[id(ma)] > 1 or seen[id(mb)] > 1:
                skipped.append((prefix + b, "its convolution or itself is registered under "
                                "several names"))
            elif mb.running_var is None or mb.running_mean is None:
                skipped.append((prefix + b, "it tracks no running statistics"))
            else:
                pairs.append((prefix + a, prefix + b))
    return pairs, skipped


def fold_batch_norm(model):
    """A copy of ``model`` with every safe conv -> BN pair folded (2D and 3D; see :func:`fold_pairs`).

    The copy gives the same outputs as ``model`` in eval mode (up to rounding).
    BN layers in training mode are folded with their running statistics,
    which is what eval mode uses.
    """
    import torch
    from torch import nn

    folded = copy.deepcopy(model)
    modules = dict(folded.named_modules())
    for conv_name, bn_name in fold_pairs(folded, warn=False):
        conv, bn = modules[conv_name], modules[bn_name]
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
