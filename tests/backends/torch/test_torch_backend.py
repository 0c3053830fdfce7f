"""The PyTorch backend: early exit, exact VJPs, the model left untouched, batching, errors."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import stviz_core as sv  # noqa: E402
from stviz_adapters.zoo import vgg_c3d_torch as M  # noqa: E402
from stviz_core.layouts import Clip3D, Image2D, StackedFlow2D  # noqa: E402
from stviz_backends.torch import TorchBackend, accepts  # noqa: E402
from stviz_core.presets import StreamRegularization  # noqa: E402

HARD_BOUND_ONLY = sv.presets.paper().replace(
    appearance=StreamRegularization(lambda_norm=0.0, lambda_tv=0.0),
    motion=StreamRegularization(lambda_norm=0.0, lambda_tv=0.0),
)


def small_two_stream(dtype=torch.float32):
    return M.two_stream_vgg16(num_classes=5, width=1 / 16, input_size=48, flow_frames=4, seed=0,
                              fc_width=16).to(dtype)


def snapshot(model):
    return {
        "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
        "grads": [p.grad for p in model.parameters()],
        "flags": [p.requires_grad for p in model.parameters()],
        "modes": [m.training for m in model.modules()],
        "hooks": [(len(m._forward_hooks), len(m._forward_pre_hooks), len(m._backward_hooks))
                  for m in model.modules()],
    }


def assert_unchanged(model, before):
    after = snapshot(model)
    assert set(after["state"]) == set(before["state"])
    for k, v in before["state"].items():
        assert torch.equal(after["state"][k], v), k  # bit-identical
    assert all(g is None for g in after["grads"])
    assert after["flags"] == before["flags"]
    assert after["modes"] == before["modes"]
    assert after["hooks"] == before["hooks"]


def test_accepts_only_modules():
    assert accepts(nn.Linear(2, 2)) and not accepts(np.zeros(3)) and not accepts("model")


def test_plugin_is_found_through_the_entry_point():
    assert "torch" in sv.plugins()
    plugin = sv.select_plugin(small_two_stream())
    assert plugin.name == "torch"


def test_vjp_matches_finite_differences_in_float64():
    model = small_two_stream(torch.float64)
    with TorchBackend(model, "conv5_fusion") as be:
        assert be.dtype == torch.float64 and be.activation_shape == (1, 1, 3, 3, 32)
        g = torch.Generator().manual_seed(0)
        x = {k: torch.rand((2, *s.shape), dtype=torch.float64, generator=g) * 100 - 50
             for k, s in be.inputs.items()}
        obj = sv.channel(3, normalize=False)
        grads = be.vjp(obj.cotangent(be.activations(x)))
        d = {k: torch.randn(v.shape, dtype=torch.float64, generator=g) for k, v in x.items()}
        h = 1e-6
        plus = obj.value(be.activations({k: x[k] + h * d[k] for k in x}))
        minus = obj.value(be.activations({k: x[k] - h * d[k] for k in x}))
        fd = (plus - minus) / (2 * h)
        exact = sum((grads[k] * d[k]).flatten(1).sum(1) for k in x)
        assert torch.allclose(fd, exact, rtol=1e-6, atol=1e-9)


def test_forward_stops_at_the_target_layer():
    model = small_two_stream()
    calls = []
    handles = [getattr(model, n).register_forward_hook(lambda *a, n=n: calls.append(n))
               for n in ("conv5_fusion", "fc6", "fc8")]
    with TorchBackend(model, "rgb.conv3_3") as be:
        calls.clear()  # construction runs the whole model once (it counts the target's calls)
        be.activations({k: torch.zeros((1, *s.shape)) for k, s in be.inputs.items()})
    assert calls == []  # nothing above rgb.conv3_3 ran, not even the flow tower's fusion
    with TorchBackend(model, "conv5_fusion") as be:
        calls.clear()
        be.activations({k: torch.zeros((1, *s.shape)) for k, s in be.inputs.items()})
    assert calls == ["conv5_fusion"]
    for h in handles:
        h.remove()


def test_a_layer_of_one_stream_gives_zero_gradient_to_the_other():
    with TorchBackend(small_two_stream(), "rgb.conv2_1") as be:
        x = {k: torch.rand((1, *s.shape)) for k, s in be.inputs.items()}
        grads = be.vjp(sv.channel(0).cotangent(be.activations(x)))
    assert grads["rgb"].abs().sum() > 0 and torch.all(grads["flow"] == 0)


def test_the_model_is_left_unchanged_after_a_run():
    model = small_two_stream()
    model.train()
    model.fc8.weight.requires_grad_(False)
    before = snapshot(model)
    sv.visualize(model, "conv5_fusion", channels=[1, 2], steps=3, seed=0, preset="paper")
    assert_unchanged(model, before)


def test_the_model_is_left_unchanged_after_an_error():
    model = small_two_stream()
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"channel 40 is out of range: the layer has 32 channels \(0..31\)"):
        sv.visualize(model, "conv5_fusion", channels=[40], steps=3, preset="paper")
    assert_unchanged(model, before)


def test_the_model_is_left_unchanged_after_an_interruption():
    model = small_two_stream()

    class Interrupt(nn.Module):
        calls = 0

        def forward(self, x):
            Interrupt.calls += 1
            if Interrupt.calls == 4:
                raise KeyboardInterrupt
            return x

    model.rgb.add_module("interrupt", Interrupt())
    before = snapshot(model)
    with pytest.raises(KeyboardInterrupt):
        sv.visualize(model, "conv5_fusion", channels=[0], steps=10, preset="paper")
    assert_unchanged(model, before)


def test_a_batch_equals_separate_runs_with_the_same_seeds():
    model = small_two_stream(torch.float64)
    objectives, seeds = [sv.channel(2), sv.channel(7), sv.neuron(5)], [3, 4, 5]
    together = sv.visualize(model, "conv5_fusion", objective=objectives, steps=6, seed=seeds, preset="paper")
    for n, (obj, seed) in enumerate(zip(objectives, seeds, strict=True)):
        alone = sv.visualize(model, "conv5_fusion", objective=[obj], steps=6, seed=seed, preset="paper")
        for k in ("rgb", "flow"):
            np.testing.assert_allclose(together.inputs[k][n], alone.inputs[k][0], rtol=1e-10, atol=1e-8)


def test_a_rightward_flow_unit_gets_rightward_flow_at_every_pixel():
    """A 1x1 convolution on a flow stack whose weight points right (+u)."""
    conv = nn.Conv2d(2 * 4, 1, kernel_size=1, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[0, 0::2] = 1.0  # every frame's u component
    model = nn.Sequential(conv)
    r = sv.visualize(model, "0", channels=[0], inputs={"flow": (4, 12, 12, 2)},
                     layout=StackedFlow2D(), steps=80, seed=0, preset=sv.presets.paper(gamma=1))
    flow = r.inputs["flow"][0]
    assert (flow[..., 0] > 0).all()
    assert np.abs(flow[..., 1]).mean() < 0.25 * flow[..., 0].mean()


def test_in_place_operations_in_the_model():
    class InPlace(nn.Module):
        """In-place ops as users write them: on the input, residual +=, inplace ReLU."""

        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv3d(3, 4, 3, padding=1)
            self.conv2 = nn.Conv3d(4, 4, 3, padding=1)
            self.act = nn.ReLU(inplace=True)
            self.out = nn.Conv3d(4, 4, 1)

        def forward(self, clip):
            clip += 1.0
            x = self.act(self.conv1(clip))
            y = self.conv2(x)
            y += x
            return self.out(self.act(y))

    model = InPlace().double()
    with TorchBackend(model, "out", inputs={"clip": (2, 6, 6, 3)}, layout=Clip3D()) as be:
        x = {"clip": torch.randn(1, 2, 6, 6, 3, dtype=torch.float64)}
        keep = x["clip"].clone()
        grads = be.vjp(sv.channel(1).cotangent(be.activations(x)))
        assert torch.equal(x["clip"], keep)  # the kernel's array was not modified
        d = torch.randn_like(keep)
        f = lambda y: sv.channel(1).value(be.activations({"clip": y}))  # noqa: E731
        fd = (f(keep + 1e-6 * d) - f(keep - 1e-6 * d)) / 2e-6
        assert torch.allclose(fd, (grads["clip"] * d).sum(), rtol=1e-6)


def test_an_in_place_change_autograd_cannot_undo_is_explained():
    class Broken(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.act = nn.ReLU(inplace=True)
            self.out = nn.Conv2d(4, 2, 1)

        def forward(self, x):
            x = self.act(self.conv(x))
            x += 1.0  # overwrites the ReLU output that ReLU's backward needs
            return self.out(x)

    with pytest.raises(RuntimeError, match=r"modifies in place a tensor.*x = x \+ y"):
        sv.visualize(Broken(), "out", channels=[0], inputs={"rgb": (1, 8, 8, 3)},
                     layout=Image2D(), steps=2, preset="paper")


@pytest.mark.parametrize("family, layer", [("two_stream", "conv5_fusion"), ("c3d", "conv5b")])
def test_short_runs_raise_the_units_activation(family, layer):
    if family == "two_stream":
        model = M.two_stream_vgg16(width=1 / 16, input_size=64, seed=0)
    else:
        model = M.c3d(width=1 / 16, input_size=56, seed=0)
    r = sv.visualize(model, layer, channels=[0, 3], steps=40, seed=0, preset=HARD_BOUND_ONLY)
    start, end = r.trace["objective"][0], r.final["objective"]
    assert (end > 2 * np.abs(start)).all() and (end > 0).all()
    paper = sv.visualize(model, layer, channels=[0, 3], steps=40, seed=0, preset="paper")
    assert (paper.final["total"] > paper.trace["total"][0]).all()


def test_bad_input_gets_clear_errors():
    model = small_two_stream()
    with pytest.raises(ValueError, match=r"no layer 'conv5_fuse'; closest names: conv5_fusion"):
        sv.visualize(model, "conv5_fuse", channels=[0], preset="paper")
    with pytest.raises(ValueError, match=r"cannot take inputs rgb \(N, 3, 48, 48\), flow \(N, 6, 48, 48\)"):
        sv.visualize(model, "conv5_fusion", channels=[0],
                     inputs={"rgb": (1, 48, 48, 3), "flow": (3, 48, 48, 2)}, preset="paper")
    with pytest.raises(ValueError, match=r"expects inputs \['clip'\]"):
        sv.visualize(M.c3d(width=1 / 32, input_size=32), "conv1a", channels=[0],
                     inputs={"rgb": (1, 8, 8, 3)}, preset="paper")
    with pytest.raises(ValueError, match="pass layout="):
        sv.visualize(nn.Conv2d(3, 3, 1), "", channels=[0], inputs={"rgb": (1, 8, 8, 3)}, preset="paper")
    with pytest.raises(ValueError, match="frames must be a multiple of 16"):
        M.c3d(frames=8)


def test_nan_in_the_model_stops_with_the_step():
    class NanAfter(nn.Module):
        calls = 0

        def forward(self, x):
            NanAfter.calls += 1
            return x * (float("nan") if NanAfter.calls > 6 else 1.0)

    model = nn.Sequential(nn.Conv2d(3, 2, 3), NanAfter())
    with pytest.raises(sv.NonFiniteError, match=r"diverged at step \d+: 'objective' of "
                                                r"visualization 0 \(channel\(0\)\)") as info:
        sv.visualize(model, "1", channels=[0], inputs={"rgb": (1, 8, 8, 3)}, layout=Image2D(),
                     steps=20, preset="paper")
    assert 1 <= info.value.step <= 6  # the construction-time probes call the model too
    assert info.value.result.trace["objective"].shape[0] == info.value.step


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_run_stays_on_the_device_and_matches_cpu():
    cpu = small_two_stream(torch.float64)
    gpu = small_two_stream(torch.float64).cuda()
    a = sv.visualize(cpu, "conv5_fusion", channels=[0], steps=5, seed=0, preset="paper")
    b = sv.visualize(gpu, "conv5_fusion", channels=[0], steps=5, seed=0, preset="paper")
    assert b.config["device"].startswith("cuda")
    assert (sv.compare(a, b).max_abs_diff["all"] < 1e-6 * 160).all()


class ConvBN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 4, 3, stride=2)
        self.bn2 = nn.BatchNorm2d(4)

    def forward(self, x):
        return self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))


def test_batch_norm_is_folded_before_visualizing_with_the_same_result():
    torch.manual_seed(0)
    model = ConvBN().double()
    for bn in (model.bn1, model.bn2):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.data.uniform_(0.5, 2)
    before = snapshot(model)
    common = dict(inputs={"rgb": (1, 12, 12, 3)}, layout=Image2D(), steps=15, seed=0, preset="paper")
    folded = sv.visualize(model, "bn2", channels=[0, 3], **common)
    plain = sv.visualize(model, "bn2", channels=[0, 3], backend_options={"fold_batch_norm": False},
                         **common)
    assert folded.config["backend_details"]["folded_batch_norm"] == [["conv1", "bn1"], ["conv2", "bn2"]]
    assert plain.config["backend_details"]["folded_batch_norm"] == []
    assert folded.config["rho"] == plain.config["rho"] == 5
    assert (sv.compare(folded, plain).max_abs_diff["all"] < 1e-8).all()
    assert_unchanged(model, before)


def test_bfloat16_autocast_runs_and_roughly_agrees():
    model = small_two_stream()
    common = dict(channels=[0, 3], steps=20, seed=0, preset="paper")
    ref = sv.visualize(model, "conv5_fusion", **common)
    low = sv.visualize(model, "conv5_fusion", backend_options={"autocast": "bfloat16"}, **common)
    assert low.inputs["rgb"].dtype == np.float32 and low.config["backend_details"]["autocast"] == "bfloat16"
    assert (sv.compare(ref, low).correlation["all"] > 0.9).all()
    with pytest.raises(ValueError, match="unknown autocast 'int8'"):
        sv.visualize(model, "conv5_fusion", channels=[0], backend_options={"autocast": "int8"}, preset="paper")


def test_an_input_the_layer_does_not_use_is_left_alone():
    model = small_two_stream()
    r = sv.visualize(model, "rgb.conv2_1", channels=[0], steps=5, seed=0, preset="paper")
    assert r.config["optimized_inputs"] == ["rgb"]
    full = sv.visualize(model, "conv5_fusion", channels=[0], steps=5, seed=0, preset="paper")
    assert full.config["optimized_inputs"] == ["flow", "rgb"]
    start = sv.visualize(model, "rgb.conv2_1", channels=[0], steps=1, seed=0, preset="paper")
    np.testing.assert_array_equal(r.inputs["flow"], start.inputs["flow"])  # never stepped
    assert not np.array_equal(r.inputs["rgb"], start.inputs["rgb"])
    assert np.all(np.diff(r.trace["flow/tv"][:, 0]) == 0)  # a constant penalty


class NeedsText(nn.Module):
    """A video-text model: its forward needs token ids besides the clip."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv3d(3, 4, 3, padding=1)

    def forward(self, clip, input_ids, *, attention_mask):
        return self.conv(clip) + input_ids.sum() + attention_mask.sum()


def test_a_forward_needing_more_than_the_inputs_names_what_it_needs():
    model = NeedsText()
    with pytest.raises(ValueError, match=r"needs input_ids, attention_mask besides the inputs "
                                         r"stviz supplies \(it calls model\(clip\)\)"):
        TorchBackend(model, "conv", layout=Clip3D(), inputs={"clip": (4, 8, 8, 3)})
