"""BN folding: conv -> BN pairs (2D and 3D) folded into a model with the same eval outputs."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from stviz_backends.torch.bn_folding import fold_batch_norm, fold_pairs, unfolded  # noqa: E402


def randomize_bn(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g, dtype=m.running_mean.dtype))
            m.running_var.copy_(torch.rand(m.num_features, generator=g, dtype=m.running_var.dtype) + 0.5)
            if m.affine:
                m.weight.data.copy_(torch.randn(m.num_features, generator=g, dtype=m.weight.dtype))
                m.bias.data.copy_(torch.randn(m.num_features, generator=g, dtype=m.bias.dtype))
    return model


class Branchy(nn.Module):
    """conv -> BN twice, a bias-free conv, a 3D pair, and a conv whose output is also used elsewhere."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(8, affine=False)
        self.shared = nn.Conv2d(8, 8, 1)
        self.bn_shared = nn.BatchNorm2d(8)
        self.conv3d = nn.Conv3d(8, 4, 3, padding=1)
        self.bn3d = nn.BatchNorm3d(4)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        s = self.shared(x)
        x = self.bn_shared(s) + s  # not foldable: the conv output has two users
        return self.bn3d(self.conv3d(x.unsqueeze(2)))


def test_fold_gives_the_same_outputs_in_eval_mode():
    model = randomize_bn(Branchy()).double().eval()
    folded = fold_batch_norm(model)
    assert fold_pairs(model) == [("conv1", "bn1"), ("conv2", "bn2"), ("conv3d", "bn3d")]
    assert isinstance(folded.bn1, nn.Identity) and isinstance(folded.bn3d, nn.Identity)
    assert isinstance(folded.bn_shared, nn.BatchNorm2d)
    x = torch.randn(2, 3, 9, 9, dtype=torch.float64)
    with torch.no_grad():
        ref, out = model(x), folded(x)
    assert torch.allclose(ref, out, rtol=1e-10, atol=1e-12)
    assert isinstance(model.bn1, nn.BatchNorm2d)  # the original is untouched


def test_fold_in_sequential_models_that_fx_cannot_trace():
    class Untraceable(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(nn.Conv3d(2, 4, 3), nn.BatchNorm3d(4), nn.ReLU())

        def forward(self, x):
            return self.body(x) if x.shape[0] > 0 and x.sum() != 0 else x

    model = randomize_bn(Untraceable()).double().eval()
    assert fold_pairs(model) == [("body.0", "body.1")]
    folded = fold_batch_norm(model)
    x = torch.randn(1, 2, 4, 6, 6, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(model(x), folded(x), rtol=1e-10, atol=1e-12)


class ReusedConv(nn.Module):
    """One convolution module called twice, each call before its own BN (#18 item 1)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn_a = nn.BatchNorm2d(4)
        self.bn_b = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 1)
        self.bn2 = nn.BatchNorm2d(4)

    def forward(self, x):
        y = self.bn_a(self.conv(x)) + self.bn_b(self.conv(x))
        return self.bn2(self.conv2(y))


class SharedBlock(nn.Module):
    """A conv -> BN block called twice as a whole: every conv call feeds that BN, so it folds."""

    def __init__(self):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3))

    def forward(self, x):
        return self.block(torch.relu(self.block(x)))


def test_a_conv_called_twice_before_two_bns_is_left_unfolded_and_reported():
    model = randomize_bn(ReusedConv()).double().eval()
    with pytest.warns(UserWarning, match=r"left unfolded.*bn_a \(conv is called 2 times and feeds "
                                         r"bn_b besides bn_a\).*bn_b"):
        assert fold_pairs(model) == [("conv2", "bn2")]
    assert [bn for bn, _ in unfolded(model)] == ["bn_a", "bn_b"]
    folded = fold_batch_norm(model)
    assert isinstance(folded.bn_a, nn.BatchNorm2d) and isinstance(folded.bn2, nn.Identity)
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(model(x), folded(x), rtol=1e-10, atol=1e-12)


def test_the_backend_visualizes_the_same_with_and_without_folding_a_reused_conv():
    import stviz_core as sv
    from stviz_core.layouts import Image2D

    model = randomize_bn(ReusedConv()).double().eval()
    common = dict(inputs={"rgb": (1, 8, 8, 3)}, layout=Image2D(), steps=3, seed=0,
                  objective_scale="paper", preset="paper")
    with pytest.warns(UserWarning, match="left unfolded"):
        folded = sv.visualize(model, "bn2", channels=[0, 1], **common)
    plain = sv.visualize(model, "bn2", channels=[0, 1], backend_options={"fold_batch_norm": False},
                         **common)
    assert folded.config["backend_details"]["folded_batch_norm"] == [["conv2", "bn2"]]
    np.testing.assert_allclose(folded.final["objective"], plain.final["objective"], rtol=1e-9)
    assert (sv.compare(folded, plain).max_abs_diff["all"] < 1e-8).all()


def test_a_block_called_twice_as_a_whole_folds():
    model = randomize_bn(SharedBlock()).double().eval()
    assert fold_pairs(model) == [("block.0", "block.1")] and unfolded(model) == []
    x = torch.randn(1, 3, 6, 6, dtype=torch.float64)
    with torch.no_grad():
        assert torch.allclose(model(x), fold_batch_norm(model)(x), rtol=1e-10, atol=1e-12)


def test_a_conv_whose_output_is_also_returned_or_whose_weights_are_read_is_not_folded():
    class Returned(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 3, 1), nn.BatchNorm2d(3)

        def forward(self, x):
            c = self.conv(x)
            return self.bn(c), c

    class ReadsWeights(Returned):
        def forward(self, x):
            return self.bn(self.conv(x)) + torch.nn.functional.conv2d(x, self.conv.weight)

    for cls, why in ((Returned, "the model output"), (ReadsWeights, "weights are also read")):
        model = randomize_bn(cls()).double().eval()
        with pytest.warns(UserWarning, match=why):
            assert fold_pairs(model) == []
        x = torch.randn(1, 3, 4, 4, dtype=torch.float64)
        with torch.no_grad():
            a, b = model(x), fold_batch_norm(model)(x)
        for u, v in zip(a if isinstance(a, tuple) else [a], b if isinstance(b, tuple) else [b]):
            assert torch.allclose(u, v)
