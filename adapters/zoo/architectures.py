"""The paper's other architectures, declared once and built in either framework.

An architecture is a graph of named operations and blocks (:class:`Op`,
:class:`Block`, the vocabulary of :mod:`.graph`), free of any framework; :mod:`stviz_adapters.zoo.declared_torch`
and :mod:`stviz_adapters.zoo.declared_keras` build it, so both twins have the
same layer names by construction and weights port between them by name.

A block is a sub-graph whose output is its last item; a model names it and
its items ``block.item`` (``rgb.res2a``, ``rgb.res2a.branch2a``,
``rgb.res2a.branch2a.conv``). Inputs of an item are names in the same scope;
inside a block, ``"@0"``, ``"@1"`` are the block's inputs.

Families (``width`` scales every channel count; names follow the papers'
released models where they exist):

* :func:`st_resnet50`: Spatiotemporal ResNet (Feichtenhofer et al., NIPS 2016):
  two ResNet-50 streams ``rgb.*`` and ``flow.*`` (``conv1``, ``pool1``,
  ``res2a`` ... ``res5c``, ``pool5``, ``fc``), with an additive residual
  connection from the motion stream into the residual branch of the first
  unit of each appearance stage (``rgb.res2a`` ... ``rgb.res5a``), and class
  scores averaged in ``fc_fusion``.
* :func:`bn_inception_two_stream`: the BN-Inception two-stream network of
  TSN (Wang et al., ECCV 2016): ``conv1_7x7_s2`` ... ``inception_3a`` ...
  ``inception_5b``, ``global_pool``, ``fc`` per stream (5 flow frames),
  ``fc_fusion``.
* :func:`inception_v3_two_stream`: two Inception-v3 streams (``Conv2d_1a_3x3``
  ... ``Mixed_5b`` ... ``Mixed_7c``, ``avgpool``, ``fc``), ``fc_fusion``;
  299 x 299 inputs.
* :func:`i3d`: Inflated 3D ConvNet (Carreira and Zisserman, CVPR 2017) on an
  RGB clip: ``Conv3d_1a_7x7`` ... ``Mixed_3b`` ... ``Mixed_5c``, ``avgpool``,
  ``Logits``. Its keywords give the conventions of a trained model too (the
  Kinetics-400 I3D of :mod:`.kinetics_i3d`: TensorFlow's padding, batch norm
  without scale, the input scaled inside, a windowed head).

Every convolution is a block ``conv`` -> ``bn`` (-> ``relu``), without bias,
so batch norm follows every convolution, before and after branch points.
Paddings are explicit and symmetric (PyTorch's convention).
"""

from __future__ import annotations

from .graph import Block, Net, Op, ch, pool, unit

__all__ = ["Op", "Block", "Net", "st_resnet50", "bn_inception_two_stream",
           "inception_v3_two_stream", "i3d", "FAMILIES", "ch", "unit", "pool"]


# -- ResNet-50 and the spatiotemporal ResNet -------------------------------------------

RESNET50_STAGES = ((2, 3, 64), (3, 4, 128), (4, 6, 256), (5, 3, 512))


def _bottleneck(name, inputs, mid, out, stride, project):
    """A bottleneck unit; with two inputs, the second (motion) joins the residual branch."""
    body = []
    branch_in = "@0"
    if len(inputs) == 2:
        body.append(Op("cross", "add", ("@0", "@1")))  # motion -> appearance residual connection
        branch_in = "cross"
    body += [unit("branch2a", branch_in, mid, 1),
             unit("branch2b", "branch2a", mid, 3, stride),
             unit("branch2c", "branch2b", out, 1, relu=False)]
    shortcut = "@0"
    if project:
        body.append(unit("branch1", "@0", out, 1, stride, relu=False))
        shortcut = "branch1"
    body += [Op("add", "add", ("branch2c", shortcut)), Op("relu", "relu", ("add",))]
    return Block(name, tuple(inputs), tuple(body))


def _resnet50_units(width):
    """``(unit name, stride, mid, out, project)`` of ResNet-50's 16 bottleneck units."""
    units = []
    for stage, count, mid in RESNET50_STAGES:
        for i in range(count):
            stride = 2 if (i == 0 and stage > 2) else 1
            units.append((f"res{stage}{'abcdef'[i]}", stride, ch(mid, width), ch(4 * mid, width),
                          i == 0))
    return units


def st_resnet50(num_classes=101, *, width=1.0, input_size=224, flow_frames=10) -> Net:
    """Two ResNet-50 streams with motion-to-appearance residual connections (see module notes)."""
    body = []
    for stream in ("rgb", "flow"):
        body += [unit(f"{stream}.conv1", stream, ch(64, width), 7, 2, 3),
                 pool(f"{stream}.pool1", f"{stream}.conv1", "maxpool", 3, 2, 1)]
    prev = {"rgb": "rgb.pool1", "flow": "flow.pool1"}
    for name, stride, mid, out, project in _resnet50_units(width):
        # the motion unit first: the appearance unit of a stage's start reads its input
        body.append(_bottleneck(f"flow.{name}", (prev["flow"],), mid, out, stride, project))
        rgb_in = (prev["rgb"], prev["flow"]) if project else (prev["rgb"],)
        body.append(_bottleneck(f"rgb.{name}", rgb_in, mid, out, stride, project))
        prev = {"rgb": f"rgb.{name}", "flow": f"flow.{name}"}
    for stream in ("rgb", "flow"):
        body += [Op(f"{stream}.pool5", "gap", (prev[stream],)),
                 Op(f"{stream}.fc", "dense", (f"{stream}.pool5",), {"out": num_classes})]
    body.append(Op("fc_fusion", "mean", ("rgb.fc", "flow.fc")))
    return _two_stream("st_resnet50", body, input_size, flow_frames)


def _two_stream(name, body, input_size, flow_frames):
    return Net(name, {"rgb": 3, "flow": 2 * flow_frames}, tuple(body), "two_stream_2d",
               {"rgb": (1, input_size, input_size, 3),
                "flow": (flow_frames, input_size, input_size, 2)}, 2)


# -- BN-Inception (TSN) ------------------------------------------------------------------

#: (block, 1x1, 3x3 reduce, 3x3, double 3x3 reduce, double 3x3, pool, pool projection, stride)
BN_INCEPTION_BLOCKS = (
    ("3a", 64, 64, 64, 64, 96, "avg", 32, 1),
    ("3b", 64, 64, 96, 64, 96, "avg", 64, 1),
    ("3c", 0, 128, 160, 64, 96, "max", 0, 2),
    ("4a", 224, 64, 96, 96, 128, "avg", 128, 1),
    ("4b", 192, 96, 128, 96, 128, "avg", 128, 1),
    ("4c", 160, 128, 160, 128, 160, "avg", 128, 1),
    ("4d", 96, 128, 192, 160, 192, "avg", 128, 1),
    ("4e", 0, 128, 192, 192, 256, "max", 0, 2),
    ("5a", 352, 192, 320, 160, 224, "avg", 128, 1),
    ("5b", 352, 192, 320, 192, 224, "max", 128, 1),
)


def _bn_inception_block(name, src, spec, width):
    _, c1, r3, c3, rd, cd, pool_kind, proj, stride = spec
    body, outs = [], []
    if c1:
        body.append(unit("branch1x1", "@0", ch(c1, width), 1))
        outs.append("branch1x1")
    body += [unit("branch3x3_reduce", "@0", ch(r3, width), 1),
             unit("branch3x3", "branch3x3_reduce", ch(c3, width), 3, stride),
             unit("branch3x3dbl_reduce", "@0", ch(rd, width), 1),
             unit("branch3x3dbl_1", "branch3x3dbl_reduce", ch(cd, width), 3),
             unit("branch3x3dbl_2", "branch3x3dbl_1", ch(cd, width), 3, stride),
             pool("branch_pool", "@0", f"{pool_kind}pool", 3, stride, 1)]
    outs += ["branch3x3", "branch3x3dbl_2"]
    if proj:
        body.append(unit("branch_pool_proj", "branch_pool", ch(proj, width), 1))
        outs.append("branch_pool_proj")
    else:
        outs.append("branch_pool")
    body.append(Op("concat", "concat", tuple(outs)))
    return Block(name, (src,), tuple(body))


def bn_inception_two_stream(num_classes=101, *, width=1.0, input_size=224, flow_frames=5) -> Net:
    """TSN's two-stream BN-Inception (see module notes); 5 flow frames as in TSN."""
    body = []
    for s in ("rgb", "flow"):
        body += [unit(f"{s}.conv1_7x7_s2", s, ch(64, width), 7, 2, 3),
                 pool(f"{s}.pool1_3x3_s2", f"{s}.conv1_7x7_s2", "maxpool", 3, 2, 1),
                 unit(f"{s}.conv2_3x3_reduce", f"{s}.pool1_3x3_s2", ch(64, width), 1),
                 unit(f"{s}.conv2_3x3", f"{s}.conv2_3x3_reduce", ch(192, width), 3),
                 pool(f"{s}.pool2_3x3_s2", f"{s}.conv2_3x3", "maxpool", 3, 2, 1)]
        prev = f"{s}.pool2_3x3_s2"
        for spec in BN_INCEPTION_BLOCKS:
            body.append(_bn_inception_block(f"{s}.inception_{spec[0]}", prev, spec, width))
            prev = f"{s}.inception_{spec[0]}"
        body += [Op(f"{s}.global_pool", "gap", (prev,)),
                 Op(f"{s}.fc", "dense", (f"{s}.global_pool",), {"out": num_classes})]
    body.append(Op("fc_fusion", "mean", ("rgb.fc", "flow.fc")))
    return _two_stream("bn_inception_two_stream", body, input_size, flow_frames)


# -- Inception-v3 ------------------------------------------------------------------------

_V3 = {"eps": 1e-3}


def _v3(name, src, out, k, s=1, p=0):
    return unit(name, src, out, k, s, p, eps=1e-3)


def _inception_a(name, src, pool_features, w):
    body = (_v3("branch1x1", "@0", ch(64, w), 1),
            _v3("branch5x5_1", "@0", ch(48, w), 1),
            _v3("branch5x5_2", "branch5x5_1", ch(64, w), 5, p=2),
            _v3("branch3x3dbl_1", "@0", ch(64, w), 1),
            _v3("branch3x3dbl_2", "branch3x3dbl_1", ch(96, w), 3, p=1),
            _v3("branch3x3dbl_3", "branch3x3dbl_2", ch(96, w), 3, p=1),
            pool("pool", "@0", "avgpool", 3, 1, 1),
            _v3("branch_pool", "pool", ch(pool_features, w), 1),
            Op("concat", "concat", ("branch1x1", "branch5x5_2", "branch3x3dbl_3", "branch_pool")))
    return Block(name, (src,), body)


def _inception_b(name, src, w):
    body = (_v3("branch3x3", "@0", ch(384, w), 3, 2),
            _v3("branch3x3dbl_1", "@0", ch(64, w), 1),
            _v3("branch3x3dbl_2", "branch3x3dbl_1", ch(96, w), 3, p=1),
            _v3("branch3x3dbl_3", "branch3x3dbl_2", ch(96, w), 3, 2),
            pool("pool", "@0", "maxpool", 3, 2),
            Op("concat", "concat", ("branch3x3", "branch3x3dbl_3", "pool")))
    return Block(name, (src,), body)


def _inception_c(name, src, c7, w):
    c7 = ch(c7, w)
    body = (_v3("branch1x1", "@0", ch(192, w), 1),
            _v3("branch7x7_1", "@0", c7, 1),
            _v3("branch7x7_2", "branch7x7_1", c7, (1, 7), p=(0, 3)),
            _v3("branch7x7_3", "branch7x7_2", ch(192, w), (7, 1), p=(3, 0)),
            _v3("branch7x7dbl_1", "@0", c7, 1),
            _v3("branch7x7dbl_2", "branch7x7dbl_1", c7, (7, 1), p=(3, 0)),
            _v3("branch7x7dbl_3", "branch7x7dbl_2", c7, (1, 7), p=(0, 3)),
            _v3("branch7x7dbl_4", "branch7x7dbl_3", c7, (7, 1), p=(3, 0)),
            _v3("branch7x7dbl_5", "branch7x7dbl_4", ch(192, w), (1, 7), p=(0, 3)),
            pool("pool", "@0", "avgpool", 3, 1, 1),
            _v3("branch_pool", "pool", ch(192, w), 1),
            Op("concat", "concat", ("branch1x1", "branch7x7_3", "branch7x7dbl_5", "branch_pool")))
    return Block(name, (src,), body)


def _inception_d(name, src, w):
    body = (_v3("branch3x3_1", "@0", ch(192, w), 1),
            _v3("branch3x3_2", "branch3x3_1", ch(320, w), 3, 2),
            _v3("branch7x7x3_1", "@0", ch(192, w), 1),
            _v3("branch7x7x3_2", "branch7x7x3_1", ch(192, w), (1, 7), p=(0, 3)),
            _v3("branch7x7x3_3", "branch7x7x3_2", ch(192, w), (7, 1), p=(3, 0)),
            _v3("branch7x7x3_4", "branch7x7x3_3", ch(192, w), 3, 2),
            pool("pool", "@0", "maxpool", 3, 2),
            Op("concat", "concat", ("branch3x3_2", "branch7x7x3_4", "pool")))
    return Block(name, (src,), body)


def _inception_e(name, src, w):
    body = (_v3("branch1x1", "@0", ch(320, w), 1),
            _v3("branch3x3_1", "@0", ch(384, w), 1),
            _v3("branch3x3_2a", "branch3x3_1", ch(384, w), (1, 3), p=(0, 1)),
            _v3("branch3x3_2b", "branch3x3_1", ch(384, w), (3, 1), p=(1, 0)),
            _v3("branch3x3dbl_1", "@0", ch(448, w), 1),
            _v3("branch3x3dbl_2", "branch3x3dbl_1", ch(384, w), 3, p=1),
            _v3("branch3x3dbl_3a", "branch3x3dbl_2", ch(384, w), (1, 3), p=(0, 1)),
            _v3("branch3x3dbl_3b", "branch3x3dbl_2", ch(384, w), (3, 1), p=(1, 0)),
            pool("pool", "@0", "avgpool", 3, 1, 1),
            _v3("branch_pool", "pool", ch(192, w), 1),
            Op("concat", "concat", ("branch1x1", "branch3x3_2a", "branch3x3_2b", "branch3x3dbl_3a",
                                    "branch3x3dbl_3b", "branch_pool")))
    return Block(name, (src,), body)


def inception_v3_two_stream(num_classes=101, *, width=1.0, input_size=299, flow_frames=10) -> Net:
    """Two Inception-v3 streams (see module notes)."""
    body = []
    for s in ("rgb", "flow"):
        p = f"{s}."
        body += [_v3(p + "Conv2d_1a_3x3", s, ch(32, width), 3, 2),
                 _v3(p + "Conv2d_2a_3x3", p + "Conv2d_1a_3x3", ch(32, width), 3),
                 _v3(p + "Conv2d_2b_3x3", p + "Conv2d_2a_3x3", ch(64, width), 3, p=1),
                 pool(p + "maxpool1", p + "Conv2d_2b_3x3", "maxpool", 3, 2),
                 _v3(p + "Conv2d_3b_1x1", p + "maxpool1", ch(80, width), 1),
                 _v3(p + "Conv2d_4a_3x3", p + "Conv2d_3b_1x1", ch(192, width), 3),
                 pool(p + "maxpool2", p + "Conv2d_4a_3x3", "maxpool", 3, 2),
                 _inception_a(p + "Mixed_5b", p + "maxpool2", 32, width),
                 _inception_a(p + "Mixed_5c", p + "Mixed_5b", 64, width),
                 _inception_a(p + "Mixed_5d", p + "Mixed_5c", 64, width),
                 _inception_b(p + "Mixed_6a", p + "Mixed_5d", width),
                 _inception_c(p + "Mixed_6b", p + "Mixed_6a", 128, width),
                 _inception_c(p + "Mixed_6c", p + "Mixed_6b", 160, width),
                 _inception_c(p + "Mixed_6d", p + "Mixed_6c", 160, width),
                 _inception_c(p + "Mixed_6e", p + "Mixed_6d", 192, width),
                 _inception_d(p + "Mixed_7a", p + "Mixed_6e", width),
                 _inception_e(p + "Mixed_7b", p + "Mixed_7a", width),
                 _inception_e(p + "Mixed_7c", p + "Mixed_7b", width),
                 Op(p + "avgpool", "gap", (p + "Mixed_7c",)),
                 Op(p + "fc", "dense", (p + "avgpool",), {"out": num_classes})]
    body.append(Op("fc_fusion", "mean", ("rgb.fc", "flow.fc")))
    return _two_stream("inception_v3_two_stream", body, input_size, flow_frames)


# -- I3D ---------------------------------------------------------------------------------

#: (block, branch 0, branch 1 reduce, branch 1, branch 2 reduce, branch 2, branch 3)
I3D_BLOCKS = (("3b", 64, 96, 128, 16, 32, 32), ("3c", 128, 128, 192, 32, 96, 64),
              ("4b", 192, 96, 208, 16, 48, 64), ("4c", 160, 112, 224, 24, 64, 64),
              ("4d", 128, 128, 256, 24, 64, 64), ("4e", 112, 144, 288, 32, 64, 64),
              ("4f", 256, 160, 320, 32, 128, 128), ("5b", 256, 160, 320, 32, 128, 128),
              ("5c", 384, 192, 384, 48, 128, 128))


def _i3d_block(name, src, spec, w, same, bn):
    _, b0, b1r, b1, b2r, b2, b3 = spec
    u = lambda n, s, c, k: unit(n, s, ch(c, w), k, p="same" if same else None, dims=3, **bn)  # noqa: E731
    body = (u("Branch_0", "@0", b0, 1),
            u("Branch_1a", "@0", b1r, 1), u("Branch_1b", "Branch_1a", b1, 3),
            u("Branch_2a", "@0", b2r, 1), u("Branch_2b", "Branch_2a", b2, 3),
            pool("Branch_3a", "@0", "maxpool", 3, 1, "same" if same else 1, dims=3),
            u("Branch_3b", "Branch_3a", b3, 1),
            Op("concat", "concat", ("Branch_0", "Branch_1b", "Branch_2b", "Branch_3b")))
    return Block(name, (src,), body)


def i3d(num_classes=400, *, width=1.0, input_size=224, frames=64, padding=None, bn_eps=1e-5,
        bn_scale=True, input_scale=None, head_window=None) -> Net:
    """I3D on an RGB clip (see module notes); ``frames`` a multiple of 8 unless ``padding="same"``.

    ``input_size`` is ``H = W`` or ``(H, W)``. The other keywords give a trained
    model's conventions: ``padding="same"`` (TensorFlow's, everywhere), ``bn_eps``,
    ``bn_scale=False`` (batch norm without gamma), ``input_scale`` (the model
    divides its input by it first, op ``input_scale``) and ``head_window`` (the
    head averages windows of that many ``(T, H, W)`` positions, then all windows).
    """
    same = padding == "same"
    if padding not in (None, "same"):
        raise ValueError(f"padding is None (explicit, symmetric) or 'same', got {padding!r}")
    if frames % 8 and not same:
        raise ValueError(f"I3D halves time three times: frames must be a multiple of 8, got {frames}")
    bn = {"eps": bn_eps, "scale": bn_scale}
    pads = ("same",) * 4 if same else ((0, 1, 1), (0, 1, 1), 1, 0)
    stem_in = "clip"
    body = []
    if input_scale is not None:
        body.append(Op("input_scale", "scale", ("clip",), {"by": input_scale}))
        stem_in = "input_scale"
    body += [unit("Conv3d_1a_7x7", stem_in, ch(64, width), 7, 2, "same" if same else 3, dims=3, **bn),
             pool("MaxPool3d_2a_3x3", "Conv3d_1a_7x7", "maxpool", (1, 3, 3), (1, 2, 2), pads[0], 3),
             unit("Conv3d_2b_1x1", "MaxPool3d_2a_3x3", ch(64, width), 1,
                  p="same" if same else None, dims=3, **bn),
             unit("Conv3d_2c_3x3", "Conv3d_2b_1x1", ch(192, width), 3,
                  p="same" if same else None, dims=3, **bn),
             pool("MaxPool3d_3a_3x3", "Conv3d_2c_3x3", "maxpool", (1, 3, 3), (1, 2, 2), pads[1], 3)]
    prev = "MaxPool3d_3a_3x3"
    for spec in I3D_BLOCKS:
        if spec[0] == "4b":
            body.append(pool("MaxPool3d_4a_3x3", prev, "maxpool", 3, 2, pads[2], 3))
            prev = "MaxPool3d_4a_3x3"
        if spec[0] == "5b":
            body.append(pool("MaxPool3d_5a_2x2", prev, "maxpool", 2, 2, pads[3], 3))
            prev = "MaxPool3d_5a_2x2"
        body.append(_i3d_block(f"Mixed_{spec[0]}", prev, spec, width, same, bn))
        prev = f"Mixed_{spec[0]}"
    head = {} if head_window is None else {"window": tuple(head_window)}
    body += [Op("avgpool", "gap", (prev,), head),
             Op("Logits", "dense", ("avgpool",), {"out": num_classes})]
    h, w = (input_size, input_size) if isinstance(input_size, int) else tuple(input_size)
    return Net("i3d", {"clip": 3}, tuple(body), "clip_3d", {"clip": (frames, h, w, 3)}, 3)


#: family name -> its declaration (defaults: the paper's input size)
FAMILIES = {
    "st_resnet50": st_resnet50,
    "bn_inception_two_stream": bn_inception_two_stream,
    "inception_v3_two_stream": inception_v3_two_stream,
    "i3d": i3d,
}
