"""Keras 3 builds of :mod:`stviz_adapters.zoo.architectures`: the twins of :mod:`.families_torch`.

Same layer names; a block is closed by an ``Identity`` layer that carries the
block's name (``rgb.res5c``, ``Mixed_5c``), so every PyTorch module that
runs in the forward pass has a Keras layer of the same name. Channels-last
inputs. Spelling differences, not differences in function: PyTorch's
symmetric padding of a strided convolution or of a pooling is an explicit
``<name>_pad`` zero-padding layer before a ``valid`` one (Keras' ``same``
pads asymmetrically); a padded max pooling is padded with zeros, which equals
PyTorch's implicit padding because its inputs are rectified (every max pooling
of these families follows a ReLU or a concatenation of ReLUs), and a padded
average pooling counts the zeros, like PyTorch's default
``count_include_pad=True``. TensorFlow has no float64 3D max pooling: build
I3D in float32.

TensorFlow's "SAME" padding (``p="same"``) is Keras' ``padding="same"``; in
float64 a "SAME" 3D max pooling is :class:`~.layers_keras.SameMaxPool3D`
(``keras.ops``). :func:`load_weights` sets trained arrays named as
:func:`stviz_adapters.zoo.graph.weight_shapes` lists them.
"""

from __future__ import annotations

from . import architectures as A
from . import graph as G
from stviz_core.layouts import Clip3D, Layout, TwoStream2D
from stviz_core.model_contract import declare
from .vgg_c3d_keras import he_normal

__all__ = ["build", "load_weights", "trained", "st_resnet50", "bn_inception_two_stream",
           "inception_v3_two_stream", "i3d"]


def _padding(L, name, p, dims, dtype):
    pad = L.ZeroPadding2D if dims == 2 else L.ZeroPadding3D
    return pad(tuple((x, x) for x in p), name=f"{name}_pad", dtype=dtype)


def _windowed(L, op, full, x, dims, dtype, make):
    """A convolution or pooling with PyTorch's symmetric padding ``p``."""
    k, s, p = op.params["k"], op.params["s"], op.params["p"]
    if p == "same":
        return make("same")(x)
    if not any(p):
        return make("valid")(x)
    if all(v == 1 for v in s) and all(pv == kv // 2 and kv % 2 for pv, kv in zip(p, k)) \
            and op.kind != "avgpool":
        return make("same")(x)  # stride 1, odd kernel: Keras' "same" pads symmetrically
    return make("valid")(_padding(L, full, p, dims, dtype)(x))


def _layer(keras, op, full, xs, dims, dtype, seed):
    L, k, p = keras.layers, op.kind, op.params
    if k == "conv":
        conv = L.Conv2D if dims == 2 else L.Conv3D
        init = he_normal(keras, seed, full)
        return _windowed(L, op, full, xs[0], dims, dtype, lambda pad: conv(
            p["out"], p["k"], strides=p["s"], padding=pad, use_bias=False, kernel_initializer=init,
            name=full, dtype=dtype))
    if k == "bn":
        return L.BatchNormalization(epsilon=p["eps"], scale=p.get("scale", True), name=full,
                                    dtype=dtype)(xs[0])
    if k == "relu":
        return L.ReLU(name=full, dtype=dtype)(xs[0])
    if k == "maxpool" and p["p"] == "same" and dims == 3 and dtype == "float64":
        from .layers_keras import SameMaxPool3D  # TensorFlow has no float64 MaxPool3D

        return SameMaxPool3D(p["k"], p["s"], name=full, dtype=dtype)(xs[0])
    if k in ("maxpool", "avgpool"):
        pool = {("maxpool", 2): L.MaxPooling2D, ("maxpool", 3): L.MaxPooling3D,
                ("avgpool", 2): L.AveragePooling2D, ("avgpool", 3): L.AveragePooling3D}[k, dims]
        return _windowed(L, op, full, xs[0], dims, dtype,
                         lambda pad: pool(p["k"], p["s"], padding=pad, name=full, dtype=dtype))
    if k == "add":
        return L.Add(name=full, dtype=dtype)(list(xs))
    if k == "mean":
        return L.Average(name=full, dtype=dtype)(list(xs))
    if k == "concat":
        return L.Concatenate(axis=-1, name=full, dtype=dtype)(list(xs))
    if k == "scale":
        from .layers_keras import InputScale

        return InputScale(p["by"], name=full, dtype=dtype)(xs[0])
    if k == "gap" and p.get("window"):
        from .layers_keras import HeadMean

        return HeadMean(p["window"], name=full, dtype=dtype)(xs[0])
    if k == "gap":
        gap = L.GlobalAveragePooling2D if dims == 2 else L.GlobalAveragePooling3D
        return gap(name=full, dtype=dtype)(xs[0])
    if k == "dense":
        return L.Dense(p["out"], kernel_initializer=he_normal(keras, seed, full),
                       name=full, dtype=dtype)(xs[0])
    raise ValueError(f"unknown operation {k!r} in {full}")


def _body(keras, body, env, prefix, dims, dtype, seed):
    for item in body:
        full = prefix + item.name
        xs = [env[s] for s in item.inputs]
        if isinstance(item, A.Block):
            inner = _body(keras, item.body, {f"@{i}": x for i, x in enumerate(xs)}, full + ".",
                          dims, dtype, seed)
            out = keras.layers.Identity(name=full, dtype=dtype)(inner)
        else:
            out = _layer(keras, item, full, xs, dims, dtype, seed)
        env[item.name] = out
    return out


def build(net: A.Net, *, dtype="float32", seed=None):
    """The Keras functional model of a declared architecture (He-initialized, ``seed``: reproducible)."""
    import keras

    inputs = {}
    for name, channels in net.inputs.items():
        t, h, w, _ = net.stviz_inputs[name]
        if net.min_clip is not None:
            G.check_min_clip(net.name, (t, h, w), net.min_clip)
        shape = (h, w, channels) if net.dims == 2 else (t, h, w, channels)
        inputs[name] = keras.Input(shape, name=name, dtype=dtype)
    out = _body(keras, net.body, dict(inputs), "", net.dims, dtype, seed)
    ins = list(inputs.values())
    model = keras.Model(ins if len(ins) > 1 else ins[0], out, name=net.name)
    layout = (TwoStream2D(channels_first=False) if net.layout == "two_stream_2d"
              else Layout(tuple((n, "clip") for n in net.inputs), False)
              if net.layout == "two_stream_3d" else Clip3D(channels_first=False))
    return declare(model, layout=layout, inputs=dict(net.stviz_inputs))


def trained(family, *, path=None, dtype="float32", **keywords):
    """A family with trained weights as a Keras model: the twin of :func:`.declared_torch.trained`.

    ``family`` is a :class:`~stviz_adapters.zoo.graph.TrainedFamily` or the name
    of the module ``stviz_adapters.zoo.<name>`` that holds its ``FAMILY``;
    ``keywords`` go to its declaration. The model declares its layout, inputs,
    and the family's labels and preprocessing.
    """
    family = G.trained_family(family)
    net, weights = family.net(**keywords), family.read(path)
    model = load_weights(build(net, dtype=dtype), weights)
    return declare(model, labels=family.labels, preprocess=family.preprocess)


def st_resnet50(num_classes=101, *, width=1.0, input_size=224, flow_frames=10, dtype="float32",
                seed=None):
    """Twin of :func:`stviz_adapters.zoo.declared_torch.st_resnet50`."""
    return build(A.st_resnet50(num_classes, width=width, input_size=input_size,
                               flow_frames=flow_frames), dtype=dtype, seed=seed)


def bn_inception_two_stream(num_classes=101, *, width=1.0, input_size=224, flow_frames=5,
                            dtype="float32", seed=None):
    """Twin of :func:`stviz_adapters.zoo.declared_torch.bn_inception_two_stream`."""
    return build(A.bn_inception_two_stream(num_classes, width=width, input_size=input_size,
                                           flow_frames=flow_frames), dtype=dtype, seed=seed)


def inception_v3_two_stream(num_classes=101, *, width=1.0, input_size=299, flow_frames=10,
                            dtype="float32", seed=None):
    """Twin of :func:`stviz_adapters.zoo.declared_torch.inception_v3_two_stream`."""
    return build(A.inception_v3_two_stream(num_classes, width=width, input_size=input_size,
                                           flow_frames=flow_frames), dtype=dtype, seed=seed)


def i3d(num_classes=400, *, width=1.0, input_size=224, frames=64, dtype="float32", seed=None):
    """Twin of :func:`stviz_adapters.zoo.declared_torch.i3d` (float32 only, see module notes)."""
    return build(A.i3d(num_classes, width=width, input_size=input_size, frames=frames),
                 dtype=dtype, seed=seed)


def _weight_slots(layer):
    """``{leaf: variable}`` of a Keras layer, in the framework-neutral names of :mod:`.graph`."""
    names = {"kernel": "kernel", "bias": "bias", "gamma": "weight", "beta": "bias",
             "moving_mean": "mean", "moving_variance": "var"}
    return {names.get(v.name, v.name): v for v in layer.weights}


def load_weights(model, weights: dict, *, prefix: str = ""):
    """Set trained arrays on ``model``'s layers by their declared names; returns ``model``.

    The twin of :func:`stviz_adapters.zoo.declared_torch.load_weights`: ``weights``
    is ``{"<layer>.<leaf>": array}`` in the layout of :mod:`stviz_adapters.zoo.graph`
    (channels last, which is Keras' own), ``prefix`` goes before every name.

    Raises
    ------
    ValueError
        A layer the model lacks (closest names given), a leaf the layer lacks,
        or an array of another shape than the layer's (both shapes).
    """
    import numpy as np

    from stviz_core.names import closest_names

    layers = {layer.name: layer for layer in model.layers}
    for name, array in weights.items():
        layer_name, leaf = G.split_weight_name(prefix + name)
        if layer_name not in layers:
            raise ValueError(f"the model has no layer {layer_name!r} for the weights' {name}; "
                             f"closest names: {', '.join(closest_names(layer_name, layers)) or 'none'}")
        slots = _weight_slots(layers[layer_name])
        if leaf not in slots:
            raise ValueError(f"layer {layer_name}: no {leaf!r} (it has {', '.join(slots) or 'none'})")
        array, variable = np.asarray(array), slots[leaf]
        if array.ndim > len(variable.shape) and all(d == 1 for d in array.shape[:-2]):
            array = array.reshape(array.shape[-2:])  # a 1 x 1 x 1 convolution's kernel, for a dense
        if tuple(variable.shape) != array.shape:
            raise ValueError(f"layer {layer_name}: the model's {leaf} is {tuple(variable.shape)}, "
                             f"the weights' {array.shape}; load into a full-width (width=1) model")
        variable.assign(array.astype(variable.dtype))
    return model
