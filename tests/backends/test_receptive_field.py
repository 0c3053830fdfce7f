"""Receptive fields from the model's structure: the VGG-16 table, and brute force on branched nets."""

import pytest

torch = pytest.importorskip("torch")

from stviz_adapters.zoo import vgg_c3d_torch as M  # noqa: E402
from stviz_backends.torch.receptive_field import receptive_field, receptive_fields  # noqa: E402

# docs/architecture.md sec. 5 (the paper's Table 1): VGG-16 at 224 x 224
VGG16_TABLE = {
    "conv1_1": (3, 1), "conv1_2": (5, 1), "pool1": (6, 2), "conv2_1": (10, 2), "conv2_2": (14, 2),
    "pool2": (16, 4), "conv3_1": (24, 4), "conv3_2": (32, 4), "conv3_3": (40, 4), "pool3": (44, 8),
    "conv4_1": (60, 8), "conv4_3": (92, 8), "pool4": (100, 16), "conv5_1": (132, 16),
    "conv5_3": (196, 16), "pool5": (212, 32),
}


@pytest.mark.parametrize("layer, expected", sorted(VGG16_TABLE.items()))
def test_vgg16_table(layer, expected):
    trunk = M.vgg16_trunk(width=1 / 32)
    assert receptive_field(trunk, layer, 224) == expected


def test_two_stream_layers():
    model = M.two_stream_vgg16(width=1 / 32, input_size=64)
    fields = receptive_fields(model, 64)
    assert fields["rgb.conv5_3"] == fields["flow.conv5_3"] == (196, 16)
    assert fields["conv5_fusion"] == (196 + 2 * 16, 16)
    assert fields["pool5_fusion"] == (196 + 2 * 16 + 16, 32)
    assert fields["fc8"] == (64, 32)  # a class unit sees the whole input
    assert receptive_field(model, "rgb", 64) == (196, 16)  # a container: its last layer


def test_c3d_layers():
    fields = receptive_fields(M.c3d(width=1 / 32, input_size=112), 112)
    assert fields["conv1a"] == (3, 1) and fields["pool1"] == (4, 2) and fields["conv5b"] == (134, 16)


def brute_force_rf(model, layer, size, channels=3):
    """Side of the square of input pixels whose gradient is non-zero for the centre unit."""
    model = model.double().eval()
    x = torch.randn(1, channels, size, size, dtype=torch.float64, requires_grad=True)
    out = {}
    handle = dict(model.named_modules())[layer].register_forward_hook(lambda m, a, o: out.setdefault("a", o))
    model(x)
    handle.remove()
    a = out["a"]
    centre = a[0, 0, a.shape[2] // 2, a.shape[3] // 2]
    (g,) = torch.autograd.grad(centre, x)
    rows = torch.nonzero(g.abs().sum(dim=(0, 1, 3))).flatten()
    cols = torch.nonzero(g.abs().sum(dim=(0, 1, 2))).flatten()
    return int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)


@pytest.mark.parametrize("layer", ["conv2_2", "pool2", "conv3_3", "pool3", "conv4_1"])
def test_analytic_equals_brute_force(layer):
    torch.manual_seed(0)
    trunk = M.vgg16_trunk(width=1 / 16)
    for name, m in list(trunk.named_children()):
        if isinstance(m, torch.nn.Conv2d):  # positive weights: no gradient cancels in the field
            torch.nn.init.uniform_(m.weight, 0.0, 1.0)
            torch.nn.init.constant_(m.bias, 0.1)
        if isinstance(m, torch.nn.MaxPool2d):  # max pooling passes gradient to one pixel only
            setattr(trunk, name, torch.nn.AvgPool2d(m.kernel_size, m.stride))
    rf, _ = receptive_field(trunk, layer, 96)
    assert brute_force_rf(trunk, layer, 96) == (rf, rf)


def test_unknown_layer_and_untraceable_models():
    with pytest.raises(ValueError, match="no layer 'conv9_9'; closest names: conv5_3"):
        receptive_field(M.vgg16_trunk(width=1 / 32), "conv9_9", 224)

    class DataDependent(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 3, 3)

        def forward(self, x):
            return self.conv(x) if x.sum() > 0 else x

    with pytest.raises(ValueError, match="cannot trace DataDependent with torch.fx"):
        receptive_field(DataDependent(), "conv", 32)
    with pytest.raises(ValueError, match="sees the whole input: give input_size"):
        receptive_field(M.c3d(width=1 / 32), "fc8")


def test_top_level_function_takes_a_canonical_shape():
    import stviz_adapters

    model = M.two_stream_vgg16(width=1 / 32, input_size=64)
    assert stviz_adapters.receptive_field(model, "fc8", (10, 64, 48, 2)) == (64, 32)
    assert stviz_adapters.receptive_field(model, "rgb.pool3", 64) == (44, 8)
