"""ST-ResNet-50, BN-Inception (TSN), Inception-v3 two-stream and I3D in both frameworks.

Same names in both twins, the same function after porting, BN folding that keeps
the outputs, receptive fields through residual and inception branches equal to
a brute-force measurement, visualizations that raise the unit, and the CLI.
"""

import numpy as np
import pytest
import torch

import stviz_adapters
import stviz_core as sv
from stviz_adapters.zoo import declared_keras as FK
from stviz_adapters.zoo import declared_torch as FT
from stviz_backends.torch.bn_folding import fold_batch_norm, fold_pairs
from stviz_adapters.cli import main
from stviz_adapters.zoo.porting import keras_to_torch, torch_to_keras
from stviz_backends.torch.receptive_field import receptive_fields
from stviz_backends.keras.receptive_field import receptive_fields as keras_receptive_fields

W = 1 / 16
#: family -> (small-model keywords, a deep layer, the class layer)
SMALL = {
    "st_resnet50": (dict(input_size=64), "rgb.res5c", "fc_fusion"),
    "bn_inception_two_stream": (dict(input_size=64), "rgb.inception_5b", "fc_fusion"),
    "inception_v3_two_stream": (dict(input_size=96), "flow.Mixed_7c", "fc_fusion"),
    "i3d": (dict(input_size=64, frames=16), "Mixed_5c", "Logits"),
}
BATCH_NORMS = (torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)


def torch_model(family, dtype=torch.float64, **changes):
    kw = {**SMALL[family][0], **changes}
    return getattr(FT, family)(width=W, seed=0, **kw).to(dtype)


def keras_dtype(family):
    return "float32" if family == "i3d" else "float64"  # TensorFlow has no float64 MaxPool3D


def randomize_batch_norm(model, seed=1):
    """BN statistics and affine parameters away from the identity, so folding has work to do."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, BATCH_NORMS):
                m.running_mean.copy_(0.2 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.weight.copy_(0.5 + torch.rand(m.num_features, generator=g))
                m.bias.copy_(0.1 * torch.randn(m.num_features, generator=g))
    return model


def model_inputs(model, n=2, seed=0):
    """Random canonical inputs ``{name: (N, T, H, W, C)}`` and the model's own arguments."""
    rng = np.random.default_rng(seed)
    canon = {k: rng.standard_normal((n, *shape)) for k, shape in model.stviz_inputs.items()}
    args = []
    for name, x in canon.items():
        if name == "clip":
            args.append(np.moveaxis(x, -1, 1))  # (N, C, T, H, W)
        elif name == "flow":
            n_, t, h, w, c = x.shape
            args.append(np.moveaxis(x, 1, 3).reshape(n_, h, w, t * c).transpose(0, 3, 1, 2))
        else:
            args.append(x[:, 0].transpose(0, 3, 1, 2))
    return canon, args


def run_torch(model, args):
    dtype = next(model.parameters()).dtype
    with torch.no_grad():
        return model(*[torch.from_numpy(np.ascontiguousarray(a)).to(dtype) for a in args]).numpy()


def run_keras(model, args):
    keras_args = [np.moveaxis(a, 1, -1) for a in args]
    dtype = model.inputs[0].dtype
    keras_args = [a.astype(dtype) for a in keras_args]
    return np.asarray(model(keras_args if len(keras_args) > 1 else keras_args[0]))


def called_modules(model):
    """Module names the forward pass runs (leaves and blocks; not the namespace containers)."""
    return {n for n, m in model.named_modules()
            if n and (isinstance(m, FT.GraphBlock) or not list(m.children()))}


@pytest.mark.parametrize("family", list(SMALL))
def test_twins_share_every_layer_name(family):
    tm = torch_model(family)
    km = getattr(FK, family)(width=W, **SMALL[family][0])
    names = called_modules(tm)
    assert names <= {layer.name for layer in km.layers}
    assert SMALL[family][1] in names and SMALL[family][2] in names


@pytest.mark.parametrize("family", list(SMALL))
def test_ported_twins_compute_the_same_function(family):
    tm = randomize_batch_norm(torch_model(family))
    km = getattr(FK, family)(width=W, dtype=keras_dtype(family), **SMALL[family][0])
    torch_to_keras(tm, km)
    _, args = model_inputs(tm)
    a, b = run_torch(tm, args), run_keras(km, args)
    tol = 1e-5 if family == "i3d" else 1e-12
    assert np.abs(a - b).max() <= tol * np.abs(a).max()
    back = keras_to_torch(km, torch_model(family))
    for (name, x), (_, y) in zip(tm.state_dict().items(), back.state_dict().items(), strict=True):
        if x.is_floating_point():
            assert torch.allclose(x, y, rtol=1e-6 if family == "i3d" else 0, atol=0), name


@pytest.mark.parametrize("family", list(SMALL))
def test_batch_norm_folds_everywhere_and_keeps_the_outputs(family):
    model = randomize_batch_norm(torch_model(family))
    n_bn = sum(isinstance(m, BATCH_NORMS) for m in model.modules())
    pairs = fold_pairs(model)
    assert len(pairs) == n_bn  # every BN, inside and outside the branches, follows a conv
    folded = fold_batch_norm(model)
    assert not any(isinstance(m, BATCH_NORMS) for m in folded.modules())
    _, args = model_inputs(model)
    a, b = run_torch(model, args), run_torch(folded, args)
    assert np.abs(a - b).max() <= 1e-10 * np.abs(a).max()


@pytest.mark.parametrize("family", list(SMALL))
def test_keras_batch_norm_folds_everywhere_and_keeps_the_outputs(family):
    from stviz_backends.keras.bn_folding import fold_batch_norm_keras, fold_pairs_keras

    tm = randomize_batch_norm(torch_model(family))
    km = torch_to_keras(tm, getattr(FK, family)(width=W, dtype=keras_dtype(family),
                                                **SMALL[family][0]))
    kinds = lambda m: [type(layer).__name__ for layer in m.layers]  # noqa: E731
    pairs = fold_pairs_keras(km)
    assert len(pairs) == kinds(km).count("BatchNormalization")
    assert sorted(pairs) == sorted(fold_pairs(tm))  # the same pairs as torch.fx finds
    folded = fold_batch_norm_keras(km)
    assert "BatchNormalization" not in kinds(folded)
    assert [layer.name for layer in folded.layers] == [layer.name for layer in km.layers]
    _, args = model_inputs(tm)
    a, b = run_keras(km, args), run_keras(folded, args)
    tol = 1e-5 if family == "i3d" else 1e-12
    assert np.abs(a - b).max() <= tol * np.abs(a).max()


def test_the_keras_backend_folds_on_request_with_the_same_result():
    tm = randomize_batch_norm(torch_model("bn_inception_two_stream"))
    km = torch_to_keras(tm, FK.bn_inception_two_stream(width=W, dtype="float64", input_size=64))
    runs = {fold: sv.visualize(km, "rgb.inception_4e", channels=[0], steps=5, seed=0,
                               backend_options={"fold_batch_norm": fold}, preset="paper")
            for fold in (False, True)}
    assert not runs[False].config["backend_details"]["folded_batch_norm"]
    assert len(runs[True].config["backend_details"]["folded_batch_norm"]) == 138
    c = sv.compare(runs[False], runs[True])
    assert (c.max_abs_diff["all"] <= 1e-6 * runs[True].config["inputs"]["rgb"]["bound"]).all()


def linearized(model):
    """A copy whose every path passes gradient: positive weights, identity BN, average pools."""
    import copy

    model = copy.deepcopy(model)
    with torch.no_grad():
        for name, m in list(model.named_modules()):
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d)):
                m.weight.uniform_(0.1, 1.0)
            elif isinstance(m, BATCH_NORMS):
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
                m.weight.fill_(1.0)
                m.bias.fill_(0.1)
            elif isinstance(m, (torch.nn.MaxPool2d, torch.nn.MaxPool3d)):  # max: one pixel only
                avg = torch.nn.AvgPool2d if isinstance(m, torch.nn.MaxPool2d) else torch.nn.AvgPool3d
                parent, _, leaf = name.rpartition(".")
                setattr(model.get_submodule(parent), leaf, avg(m.kernel_size, m.stride, m.padding))
    return model


def brute_force_field(model, layer, seed=0):
    """Height and width of the input pixels whose gradient is non-zero for the centre location.

    All channels at once: after a concatenation each branch's channels see their own field,
    and the layer's field is the largest of them.
    """
    model = linearized(model)
    canon, args = model_inputs(model, n=1, seed=seed)
    # positive inputs and weights: every ReLU passes, no gradient cancels inside the field
    leaves = [torch.from_numpy(np.abs(a)).requires_grad_(True) for a in args]
    out = {}
    handle = model.get_submodule(layer).register_forward_hook(
        lambda m, a, o: out.setdefault("a", o))
    model(*leaves)
    handle.remove()
    a = out["a"]
    centre = a[(0, slice(None)) + tuple(s // 2 for s in a.shape[2:])].sum()
    grads = [torch.zeros_like(x) if g is None else g
             for x, g in zip(leaves, torch.autograd.grad(centre, leaves, allow_unused=True))]
    extent = []
    for axis in (-2, -1):
        hit = [g.abs().sum(dim=tuple(d for d in range(g.ndim) if d != g.ndim + axis))
               for g in grads]
        idx = torch.nonzero(sum(hit)).flatten()
        extent.append(int(idx.max() - idx.min() + 1))
    return tuple(extent)


#: family -> (input size that holds the deepest field, layers to check)
RF_CASES = {
    "st_resnet50": (448, ["rgb.conv1", "rgb.pool1", "flow.res2c", "rgb.res3a", "rgb.res4f",
                          "rgb.res5c"]),
    "bn_inception_two_stream": (736, ["rgb.conv2_3x3", "rgb.inception_3c", "flow.inception_4e",
                                      "rgb.inception_5b"]),
    "inception_v3_two_stream": (1344, ["rgb.Conv2d_4a_3x3", "rgb.Mixed_5d", "rgb.Mixed_6e",
                                       "flow.Mixed_7c"]),
    "i3d": (416, ["Conv3d_2c_3x3", "Mixed_3c", "Mixed_4f", "Mixed_5c"]),
}


@pytest.mark.parametrize("family", list(RF_CASES))
def test_receptive_fields_through_branches_equal_brute_force(family):
    size, layers = RF_CASES[family]
    # 24 frames: PyTorch's avg_pool3d (the linearized max pools) needs T >= 3 before padding
    changes = {"input_size": size} | ({"frames": 24} if family == "i3d" else {})
    model = getattr(FT, family)(width=1 / 32, seed=0, **changes).double()
    fields = receptive_fields(model, size)
    for layer in layers:
        rf, _ = fields[layer]
        assert rf < size, f"{layer}: field {rf} does not fit the {size} px test input"
        assert brute_force_field(model, layer) == (rf, rf), layer


@pytest.mark.parametrize("family", list(SMALL))
def test_keras_walks_the_same_fields_as_torch_fx(family):
    kw, _, _ = SMALL[family]
    size = kw["input_size"]
    torch_fields = receptive_fields(torch_model(family), size)
    keras_fields = keras_receptive_fields(getattr(FK, family)(width=W, **kw), size)
    names = called_modules(torch_model(family))
    assert {n: torch_fields[n] for n in names} == {n: keras_fields[n] for n in names}
    assert torch_fields["fc_fusion" if family != "i3d" else "Logits"] == (size, 32)


def keras_model(family):
    return getattr(FK, family)(width=W, seed=0, **SMALL[family][0])


@pytest.mark.parametrize("framework", ["torch", "keras"])
@pytest.mark.parametrize("family", list(SMALL))
def test_a_short_visualization_raises_a_deep_unit_and_a_class(family, framework):
    model = torch_model(family, torch.float32) if framework == "torch" else keras_model(family)
    for layer in SMALL[family][1:]:
        # each of the first 8 units scaled to 1 at the initial noise; one batch shape for both
        # runs, so that Keras traces its step once
        start = sv.visualize(model, layer, channels=list(range(8)), steps=1, learning_rate=1e-12,
                             jitter=False, preset=sv.presets.paper(gamma=1), seed=0)
        a0 = start.final["objective"]
        live = a0 > 0
        assert live.any(), f"{layer}: no live unit among the first 8"
        scaled = [sv.channel(c, normalize=False) / float(a0[c] if live[c] else 1.0)
                  for c in range(8)]
        r = sv.visualize(model, layer, objective=scaled, steps=15, seed=0,
                         preset=sv.presets.paper(gamma=1))
        risen = r.final["objective"] > 2.0  # at least twice the unit's start
        assert risen[int(np.argmax(a0))] and risen[live].mean() >= 0.5, f"{framework} {layer}"


def test_the_ported_st_resnet_twin_agrees_across_frameworks():
    tm = randomize_batch_norm(torch_model("st_resnet50"))
    km = torch_to_keras(tm, FK.st_resnet50(width=W, dtype="float64", **SMALL["st_resnet50"][0]))
    out = stviz_adapters.compare(tm, km, "rgb.res4f", objective=[sv.channel(0) * 1e3,
                                                                 sv.channel(3) * 1e3],
                                 steps=30, seed=[0, 1])
    B = out.torch.config["inputs"]["rgb"]["bound"]
    assert out.torch.config["backend_details"]["folded_batch_norm"]  # torch folded, Keras did not
    assert (out.comparison.max_abs_diff["all"] <= 1e-6 * B).all()
    assert (out.comparison.correlation["all"] > 1 - 1e-9).all()


CLI_SPECS = {
    "st_resnet50": "st_resnet50(width=0.0625, input_size=64)",
    "bn_inception_two_stream": "bn_inception_two_stream(width=0.0625, input_size=64)",
    "inception_v3_two_stream": "inception_v3_two_stream(width=0.0625, input_size=96)",
    "i3d": "i3d(width=0.0625, input_size=64, frames=16)",
}


@pytest.mark.parametrize("framework", ["torch", "keras"])
@pytest.mark.parametrize("family", list(CLI_SPECS))
def test_every_family_runs_through_stviz_visualize(family, framework, tmp_path):
    spec = f"stviz_adapters.zoo.declared_{framework}:{CLI_SPECS[family]}"
    out = tmp_path / "out"
    layer = SMALL[family][1]
    assert main(["visualize", spec, "--layer", layer, "--channels", "0,1", "--steps", "2",
                 "--out", str(out), "--quiet"]) == 0
    result = sv.load(out / f"{layer}_gamma1")
    assert len(result) == 2 and result.config["backend"] == framework


def test_seeded_keras_families_are_reproducible_and_layers_differ():
    a, b = keras_model("st_resnet50"), keras_model("st_resnet50")
    name = "rgb.res3b.branch2a.conv"
    assert np.array_equal(a.get_layer(name).get_weights()[0], b.get_layer(name).get_weights()[0])
    assert not np.array_equal(a.get_layer(name).get_weights()[0],
                              a.get_layer("flow.res3b.branch2a.conv").get_weights()[0])
