"""The PyTorch backend's GPU options: channels-last memory format and CUDA graphs (issue #19).

The CPU tests check the semantics (same numbers, the user's model untouched,
fallbacks, errors); the CUDA tests (skipped without a GPU) check the speed
paths against the eager, contiguous ones.
"""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import stviz_core as sv  # noqa: E402
from stviz_adapters.zoo import vgg_c3d_torch as M  # noqa: E402
from stviz_backends.torch import TorchBackend, create  # noqa: E402
from stviz_core.layouts import Image2D  # noqa: E402

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def small_two_stream(dtype=torch.float32, device="cpu"):
    """2D towers and a 3D fusion convolution: both channels-last formats in one model."""
    return M.two_stream_vgg16(num_classes=5, width=1 / 16, input_size=48, flow_frames=4, seed=0,
                              fc_width=16).to(dtype=dtype, device=device)


def snapshot(model):
    return {
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "strides": {k: v.stride() for k, v in model.state_dict().items()},
        "ptrs": {k: v.data_ptr() for k, v in model.state_dict().items()},
        "flags": [p.requires_grad for p in model.parameters()],
        "grads": [p.grad for p in model.parameters()],
        "modes": [m.training for m in model.modules()],
        "hooks": [(len(m._forward_hooks), len(m._forward_pre_hooks)) for m in model.modules()],
    }


def assert_unchanged(model, before):
    after = snapshot(model)
    for k, v in before["state"].items():
        assert torch.equal(after["state"][k], v), k  # bit-identical
    assert after["strides"] == before["strides"]
    assert after["ptrs"] == before["ptrs"]
    for key in ("flags", "modes", "hooks"):
        assert after[key] == before[key], key
    assert all(g is None for g in after["grads"])


def random_inputs(be, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {k: (torch.rand((n, *s.shape), dtype=torch.float64, generator=g) * 100 - 50).to(
        dtype=be.dtype, device=be.device) for k, s in be.inputs.items()}


def forward_backward(be, x, seed=1):
    acts = be.activations(x)
    g = torch.Generator().manual_seed(seed)
    cot = torch.randn(acts.shape, dtype=torch.float64, generator=g).to(acts)
    return acts, be.vjp(cot)


class ViewAfterConv(nn.Module):
    """``.view`` on a convolution's output: fails in channels-last format."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4 * 6 * 6, 5)

    def forward(self, x):
        y = torch.relu(self.conv(x))
        return self.fc(y.view(y.shape[0], -1))


class StridesAssumed(ViewAfterConv):
    """Reads a convolution's output as if it were contiguous: runs in channels-last format, but
    computes something else."""

    def forward(self, x):
        y = torch.relu(self.conv(x))
        flat = torch.as_strided(y, (y.shape[0], y[0].numel()), (y[0].numel(), 1))
        return self.fc(flat)


IMAGE = {"inputs": {"rgb": (1, 8, 8, 3)}, "layout": Image2D()}


# -- CPU ----------------------------------------------------------------------------------------


def test_channels_last_gives_the_same_activations_and_gradients_in_float64():
    model = small_two_stream(torch.float64)
    with TorchBackend(model, "conv5_fusion", channels_last=False) as plain, \
            TorchBackend(model, "conv5_fusion", channels_last=True) as fast:
        assert fast.channels_last and not plain.channels_last
        assert fast.describe()["channels_last"] is True and plain.describe()["channels_last"] is False
        convs = [(n, m) for n, m in fast.model.named_modules() if isinstance(m, (nn.Conv2d, nn.Conv3d))]
        assert {type(m) for _, m in convs} == {nn.Conv2d, nn.Conv3d}
        for name, m in convs:  # module by module: 2D towers, 3D fusion
            fmt = torch.channels_last_3d if isinstance(m, nn.Conv3d) else torch.channels_last
            assert m.weight.is_contiguous(memory_format=fmt) and not m.weight.is_contiguous(), name
        x = random_inputs(plain, 3)
        a, ga = forward_backward(plain, x)
        b, gb = forward_backward(fast, x)
    torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-10 * float(a.abs().max()))
    for k in ga:
        torch.testing.assert_close(gb[k], ga[k], rtol=1e-10, atol=1e-10 * float(ga[k].abs().max()))


def test_channels_last_visualization_equals_the_contiguous_one():
    model = small_two_stream(torch.float64)
    common = dict(channels=[0, 5], steps=8, seed=0, preset="paper")
    a = sv.visualize(model, "conv5_fusion", backend_options={"channels_last": False}, **common)
    b = sv.visualize(model, "conv5_fusion", backend_options={"channels_last": True}, **common)
    assert a.config["backend_details"]["channels_last"] is False
    assert b.config["backend_details"]["channels_last"] is True
    assert (sv.compare(a, b).max_abs_diff["all"] < 1e-8).all()


def test_the_users_model_is_untouched_by_channels_last():
    model = small_two_stream()
    model.train()
    model.rgb.eval()
    model.fc8.weight.requires_grad_(False)
    before = snapshot(model)
    with TorchBackend(model, "conv5_fusion", channels_last=True) as be:
        assert be.channels_last and be.model is not model
        forward_backward(be, random_inputs(be, 2))
        assert_unchanged(model, before)  # the copy runs; the model is not even put in eval mode
    assert_unchanged(model, before)
    sv.visualize(model, "conv5_fusion", channels=[1], steps=2, seed=0,
                 backend_options={"channels_last": True}, preset="paper")
    assert_unchanged(model, before)


def test_channels_last_converts_the_batch_norm_folded_copy():
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(),
                          nn.Conv2d(6, 4, 3)).double()
    with torch.no_grad():
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
    before = snapshot(model)
    with TorchBackend(model, "3", channels_last=True, **IMAGE) as fast, \
            TorchBackend(model, "3", channels_last=False, **IMAGE) as plain:
        assert fast.folded == [["0", "1"]] or fast.folded == [("0", "1")]
        assert fast.channels_last and fast.model[0].weight.is_contiguous(memory_format=torch.channels_last)
        x = random_inputs(plain, 2)
        a, ga = forward_backward(plain, x)
        b, gb = forward_backward(fast, x)
    torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(gb["rgb"], ga["rgb"], rtol=1e-10, atol=1e-12)
    assert_unchanged(model, before)


def test_automatic_channels_last_is_off_on_cpu():
    model = small_two_stream()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with TorchBackend(model, "conv5_fusion") as be:
            assert be.channels_last is False and be.model is model
            assert be.describe()["channels_last"] is False


@pytest.mark.parametrize("cls, why", [(ViewAfterConv, "fails in that format"),
                                      (StridesAssumed, "differs by")])
def test_a_model_that_breaks_in_channels_last_falls_back(cls, why):
    torch.manual_seed(0)
    model = cls().double()
    before = snapshot(model)
    with pytest.warns(UserWarning, match=f"channels_last=True ignored, the contiguous format is used: .*{why}"):
        be = TorchBackend(model, "fc", channels_last=True, **IMAGE)
    with be:
        assert be.channels_last is False and be.describe()["channels_last"] is False
        assert be.model is model  # the copy is dropped
        x = random_inputs(be, 2)
        acts, grads = forward_backward(be, x)
        with torch.no_grad():
            ref = model(x["rgb"][:, 0].permute(0, 3, 1, 2).contiguous())
        torch.testing.assert_close(acts, ref)
    assert_unchanged(model, before)
    with warnings.catch_warnings():  # automatic: no warning (and off on CPU anyway)
        warnings.simplefilter("error")
        with TorchBackend(model, "fc", channels_last=None, **IMAGE) as auto:
            assert auto.describe()["channels_last"] is False


def test_channels_last_without_convolutions_warns():
    model = nn.Sequential(nn.Flatten(), nn.Linear(8 * 8 * 3, 4))
    with pytest.warns(UserWarning, match="no nn.Conv2d or nn.Conv3d module"):
        with TorchBackend(model, "1", channels_last=True, **IMAGE) as be:
            assert be.describe()["channels_last"] is False


def test_cuda_graphs_on_a_cpu_model_is_a_clear_error():
    model = small_two_stream()
    before = snapshot(model)
    with pytest.raises(ValueError, match="cuda_graphs needs a CUDA device; the model is on cpu"):
        TorchBackend(model, "conv5_fusion", cuda_graphs=True)
    with pytest.raises(ValueError, match="cuda_graphs needs a CUDA device; the model is on cpu"):
        sv.visualize(model, "conv5_fusion", channels=[0], steps=1, preset="paper",
                     backend_options={"cuda_graphs": True})
    assert_unchanged(model, before)
    with TorchBackend(model, "conv5_fusion") as be:
        assert be.describe()["cuda_graphs"] is False


def test_option_values_and_names_are_checked():
    model = small_two_stream()
    with pytest.raises(ValueError, match=r"unknown channels_last 'yes'; valid choices: None .*True, False"):
        TorchBackend(model, "conv5_fusion", channels_last="yes")
    with pytest.raises(ValueError, match=r"unknown cuda_graphs 1\.5; valid choices: True, False"):
        TorchBackend(model, "conv5_fusion", cuda_graphs=1.5)
    with pytest.raises(TypeError, match=r"unknown torch backend option 'channel_last'; valid options: "
                                        r"fold_batch_norm, autocast, channels_last, cuda_graphs"):
        sv.visualize(model, "conv5_fusion", channels=[0], steps=1,
                     backend_options={"channel_last": True}, preset="paper")
    be = create(model, layer="conv5_fusion", channels_last=False, cuda_graphs=False)
    be.close()


# -- CUDA ---------------------------------------------------------------------------------------


@pytest.fixture
def no_tf32(monkeypatch):
    """Full float32 convolutions and matmuls and deterministic cuDNN algorithms, so that formats
    and graphs compare tightly."""
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", True)
    monkeypatch.setattr(torch.backends.cudnn, "allow_tf32", False)
    monkeypatch.setattr(torch.backends.cuda.matmul, "allow_tf32", False)


@cuda
@pytest.mark.parametrize("units", [[3], [0, 5, 9, 14]])
def test_cuda_graphs_give_the_eager_result(units, no_tf32):
    model = small_two_stream(device="cuda")
    common = dict(channels=units, steps=20, seed=0, preset=sv.presets.paper())
    eager = sv.visualize(model, "conv5_fusion", **common)
    graphed = sv.visualize(model, "conv5_fusion", backend_options={"cuda_graphs": True}, **common)
    assert graphed.config["backend_details"]["cuda_graphs"] is True
    assert eager.config["backend_details"]["cuda_graphs"] is False
    assert graphed.config["jitter"]["enabled"] and graphed.config["jitter"]["stride"] > 1
    for k, a in eager.inputs.items():
        b = graphed.inputs[k]
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4 * np.abs(a).max(), err_msg=k)
    np.testing.assert_allclose(graphed.final["objective"], eager.final["objective"], rtol=1e-4)


@cuda
def test_cuda_graphs_capture_once_per_shape_and_match_eager(no_tf32):
    model = small_two_stream(device="cuda")
    with TorchBackend(model, "conv5_fusion", cuda_graphs=True) as be, \
            TorchBackend(model, "conv5_fusion") as eager:
        for n, seed in ((2, 0), (2, 1), (3, 2), (2, 3)):
            x = random_inputs(be, n, seed)
            a, ga = forward_backward(eager, x, seed)
            b, gb = forward_backward(be, x, seed)
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5 * float(a.abs().max()))
            for k in ga:
                torch.testing.assert_close(gb[k], ga[k], rtol=1e-5, atol=1e-5 * float(ga[k].abs().max()))
        assert len(be._graphs) == 2  # batch sizes 2 and 3
        # the returned arrays are the caller's: a later replay does not overwrite them
        first, g_first = forward_backward(be, random_inputs(be, 2, 7), 7)
        kept, g_kept = first.clone(), {k: v.clone() for k, v in g_first.items()}
        forward_backward(be, random_inputs(be, 2, 8), 8)
        assert torch.equal(first, kept) and all(torch.equal(g_first[k], g_kept[k]) for k in g_kept)
        recorded = be.activations(random_inputs(be, 5), for_vjp=False)  # eager, no capture
        assert recorded.shape[0] == 5 and len(be._graphs) == 2


@cuda
def test_channels_last_is_on_by_default_on_cuda_and_matches_contiguous(no_tf32):
    model = small_two_stream(device="cuda")
    before = snapshot(model)
    with TorchBackend(model, "conv5_fusion") as fast, \
            TorchBackend(model, "conv5_fusion", channels_last=False) as plain:
        assert fast.describe()["channels_last"] is True and plain.describe()["channels_last"] is False
        x = random_inputs(plain, 3)
        a, ga = forward_backward(plain, x)
        b, gb = forward_backward(fast, x)
    torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-4 * float(a.abs().max()))
    for k in ga:  # in norm: rounding may move a max-pooling switch, and the gradient with it
        assert float((gb[k] - ga[k]).norm() / ga[k].norm()) < 1e-3, k
    assert_unchanged(model, before)


@cuda
def test_automatic_channels_last_falls_back_silently_on_cuda():
    torch.manual_seed(0)
    model = ViewAfterConv().cuda()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with TorchBackend(model, "fc", **IMAGE) as be:
            assert be.describe()["channels_last"] is False and be.model is model


@cuda
def test_bfloat16_autocast_reaches_the_float32_objective():
    # eq. 1 literal (no per-unit scale measured on the initial gradient, which bfloat16 rounds) and
    # enough steps for the ascent to settle: on this small random net, 40 steps leave single units
    # 20% apart (different paths to the same level); after 100 the median is under 1% (CPU bf16)
    model = small_two_stream(device="cuda")
    common = dict(channels=list(range(0, 32, 2)), steps=100, seed=0, preset=sv.presets.paper(),
                  objective_scale="paper")
    ref = sv.visualize(model, "conv5_fusion", **common)
    low = sv.visualize(model, "conv5_fusion", backend_options={"autocast": "bfloat16"}, **common)
    assert low.config["backend_details"]["autocast"] == "bfloat16"
    a, b = np.asarray(ref.final["objective"]), np.asarray(low.final["objective"])
    assert np.median(np.abs(b - a) / np.abs(a)) < 0.02, (a, b)


@cuda
def test_cuda_graphs_with_autocast():
    model = small_two_stream(device="cuda")
    common = dict(channels=[0, 5, 9], steps=20, seed=0, preset=sv.presets.paper(),
                  backend_options={"autocast": "bfloat16"})
    eager = sv.visualize(model, "conv5_fusion", **common)
    common["backend_options"] = {"autocast": "bfloat16", "cuda_graphs": True}
    graphed = sv.visualize(model, "conv5_fusion", **common)
    details = graphed.config["backend_details"]
    assert details["cuda_graphs"] is True and details["autocast"] == "bfloat16"
    assert all(np.isfinite(v).all() for v in graphed.inputs.values())
    np.testing.assert_allclose(graphed.final["objective"], eager.final["objective"], rtol=1e-2)


class _SlightlyLayoutDependent(nn.Module):
    """A conv net whose output moves by 1e-3 of its size when its input is channels-last: a layout
    mistake small enough for float32's tolerance, caught by the float64 comparison."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.stviz_inputs, self.stviz_layout = {"rgb": (1, 16, 16, 3)}, Image2D()

    def forward(self, x):
        if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
            x = x * (1 + 1e-3)
        return self.conv(x)


def test_the_formats_are_compared_in_float64_on_the_copy():
    model = _SlightlyLayoutDependent()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.warns(UserWarning, match="differs by 0.001"):
        be = TorchBackend(model, "conv", channels_last=True)
    assert be.describe()["channels_last"] is False
    assert "differs by" in be.describe()["channels_last_reason"]
    be.close()
    good = small_two_stream(torch.float32)
    with TorchBackend(good, "conv5_fusion", channels_last=True) as be:
        assert be.describe()["channels_last"] is True and be.describe()["channels_last_reason"] is None
        assert all(p.dtype == torch.float32 for p in be.model.parameters())  # back from float64
        conv = next(m for m in be.model.modules() if isinstance(m, nn.Conv2d))
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
