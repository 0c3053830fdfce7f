"""Receptive-field size and cumulative stride of a layer, from the model's structure.

The model's graph (``torch.fx`` symbolic trace) is walked from the inputs, and
each node gets, per spatial axis (H, W), the size of the input window it sees
and the distance in input pixels between neighbouring outputs (its cumulative
stride): a convolution or pooling with kernel ``k``, dilation ``d`` and stride
``s`` maps ``(rf, jump)`` to ``(rf + (k - 1) d jump, jump s)``; elementwise
layers keep it; a node with several inputs (concatenation, addition) takes the
largest over them; a flatten or an adaptive/global pooling sees the whole input.
Padding does not change the field: these are the theoretical sizes of the
paper's Table 1 (VGG-16 pool5: 212 at stride 32).
"""

from __future__ import annotations

from stviz_core.names import closest_names

__all__ = ["receptive_field", "receptive_fields"]

_GLOBAL = object()


def receptive_field(model, layer: str, input_shape=None):
    """``(rf, stride)`` of ``layer``'s output, in input pixels.

    Parameters
    ----------
    model : torch.nn.Module
        Built from standard convolution and pooling layers (1D-3D), any graph
        ``torch.fx`` can trace (chains, two streams, residual and concatenating
        branches).
    layer : str
        Qualified module name; for a container or custom module, its output.
    input_shape : int or tuple, optional
        The input's spatial size, or its canonical shape ``(T, H, W, C)``: the
        field of a layer that sees the whole input (after a flatten or global
        pooling) is ``max(H, W)``. Without it such a layer raises.

    Returns
    -------
    tuple of int
        The larger of the H and W field sizes, and of the two strides.
    """
    input_size = _size(input_shape)
    fields = _raw_fields(model)
    if layer in fields:
        return _report(fields[layer], input_size, layer)
    if layer in dict(model.named_modules()):
        raise ValueError(
            f"layer {layer!r} adds no operation to the traced graph (it returns its input "
            "unchanged, or the forward pass never calls it)"
        )
    raise ValueError(
        f"the model has no layer {layer!r}; closest names: "
        f"{', '.join(closest_names(layer, fields)) or 'none'}"
    )


def _size(input_shape):
    if input_shape is None or isinstance(input_shape, int):
        return input_shape
    shape = tuple(input_shape)
    if len(shape) != 4:
        raise ValueError(f"input_shape is an int or the canonical (T, H, W, C), got {shape}")
    return max(shape[1], shape[2])


def receptive_fields(model, input_shape=None) -> dict:
    """``{module name: (rf, stride)}`` for every module the traced graph runs, in output order.

    Containers and custom modules (which ``torch.fx`` traces through) get the
    field of the last node computed inside them: their output.
    """
    size = _size(input_shape)
    return {path: _report(v, size, path) for path, v in _raw_fields(model).items()}


def _raw_fields(model) -> dict:
    import torch
    import torch.fx

    try:
        graph = _tracer(torch).trace(model)
    except Exception as exc:
        raise ValueError(
            f"cannot trace {type(model).__name__} with torch.fx to find receptive fields "
            f"({type(exc).__name__}: {str(exc).splitlines()[0]}); pass rho= and stride= instead"
        ) from None
    modules = dict(model.named_modules())
    info, out = {}, {}
    for node in graph.nodes:
        ins = [info[a] for a in node.all_input_nodes if a in info]
        if node.op == "placeholder":
            info[node] = ((1, 1), (1, 1))
            continue
        if node.op == "output" or not ins:
            continue
        merged = _merge(ins)
        if node.op == "call_module":
            value = _module_rule(modules[node.target], merged, torch)
        elif node.op in ("call_function", "call_method"):
            value = _function_rule(node, merged, torch)
        else:
            value = merged
        info[node] = value
        # every module the node runs inside: the last node inside a module is its output
        scopes = [path for path, _ in (node.meta.get("nn_module_stack") or {}).values()]
        if node.op == "call_module" and node.target not in scopes:
            scopes.append(node.target)
        for path in scopes:
            out.pop(path, None)  # keep the dict in order of each module's output
            out[path] = value
    return out


def _tracer(torch):
    """A ``torch.fx`` tracer that keeps subclasses of the standard convolutions and pools that
    keep their class's ``forward`` as leaves, as it keeps the classes themselves (torchvision's
    ``Conv3DSimple`` and ``Conv3DNoTemporal`` are ``nn.Conv3d`` subclasses defined outside
    ``torch.nn``); one with its own ``forward`` is traced through, as before."""
    nn = torch.nn
    leaves = (nn.modules.conv._ConvNd, nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd)

    class Tracer(torch.fx.Tracer):
        def is_leaf_module(self, m, qualname):
            standard = isinstance(m, leaves) and type(m).forward.__module__.startswith("torch.nn")
            return standard or super().is_leaf_module(m, qualname)

    return Tracer()


def _merge(ins):
    """Several inputs: the largest field and stride over them (global wins)."""
    jump = tuple(max(i[1][a] for i in ins) for a in range(2))
    if any(i[0] is _GLOBAL for i in ins):
        return _GLOBAL, jump
    return tuple(max(i[0][a] for i in ins) for a in range(2)), jump


def _spatial(value, n):
    """The last two entries (H, W) of a per-axis parameter of an n-d layer."""
    t = tuple(value) if isinstance(value, (tuple, list)) else (value,) * n
    return (t[-2], t[-1]) if n >= 2 else (1, t[-1])


def _window(rf_jump, k, s, d):
    (rf, jump) = rf_jump
    if rf is _GLOBAL:
        return rf_jump
    return (tuple(rf[a] + (k[a] - 1) * d[a] * jump[a] for a in range(2)),
            tuple(jump[a] * s[a] for a in range(2)))


def _module_rule(m, value, torch):
    nn = torch.nn
    convs = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
    pools = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
    adaptive = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
                nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)
    if isinstance(m, convs):
        n = len(m.kernel_size)
        return _window(value, _spatial(m.kernel_size, n), _spatial(m.stride, n),
                       _spatial(m.dilation, n))
    if isinstance(m, pools):
        n = int(type(m).__name__[-2])
        stride = m.stride if m.stride is not None else m.kernel_size
        dilation = getattr(m, "dilation", 1)
        return _window(value, _spatial(m.kernel_size, n), _spatial(stride, n),
                       _spatial(dilation, n))
    if isinstance(m, adaptive + (nn.Flatten, nn.Linear)):
        return _GLOBAL, value[1]
    return value


_FLATTENING = {"flatten", "view", "reshape", "mean", "sum", "amax", "max", "adaptive_avg_pool2d",
               "adaptive_avg_pool3d", "adaptive_max_pool2d", "adaptive_max_pool3d", "linear"}


def _function_rule(node, value, torch):
    target = node.target
    fname = target if isinstance(target, str) else getattr(target, "__name__", "")
    if fname in _FLATTENING:
        return (_GLOBAL, value[1])
    if target in (torch.nn.functional.max_pool2d, torch.nn.functional.avg_pool2d,
                  torch.nn.functional.max_pool3d, torch.nn.functional.avg_pool3d):
        k = node.kwargs.get("kernel_size", node.args[1] if len(node.args) > 1 else None)
        s = node.kwargs.get("stride", node.args[2] if len(node.args) > 2 else None) or k
        n = 3 if "3d" in fname else 2
        return _window(value, _spatial(k, n), _spatial(s, n), (1, 1))
    if fname.startswith("conv") or fname.startswith("max_pool") or fname.startswith("avg_pool"):
        raise ValueError(f"functional {fname} calls are not supported; use nn modules")
    return value


def _report(value, input_size, name):
    rf, jump = value
    if rf is _GLOBAL:
        if input_size is None:
            raise ValueError(f"layer {name!r} sees the whole input: give input_size")
        return int(input_size), int(max(jump))
    return int(max(rf)), int(max(jump))
