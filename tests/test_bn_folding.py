"""BN folding: conv -> BN pairs (2D and 3D) folded into a model with the same eval outputs."""

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from stviz_backends.torch.bn_folding import fold_batch_norm, fold_pairs  # noqa: E402


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
