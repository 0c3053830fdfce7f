"""The backend's own copy of a model runs with contiguous weights; the user's model keeps its own."""

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import stviz_core as sv  # noqa: E402
from stviz_core.layouts import Clip3D  # noqa: E402
from stviz_backends.torch.backend import TorchBackend  # noqa: E402

from tests.backends.torch.test_bn_folding import randomize_bn  # noqa: E402
from tests.backends.torch.test_torch_backend import assert_unchanged, snapshot  # noqa: E402


def _strided_net():
    model = nn.Sequential(nn.Conv3d(3, 8, 3, padding=1), nn.BatchNorm3d(8), nn.ReLU(),
                          nn.Conv3d(8, 4, 3, padding=1))
    model = randomize_bn(model).double().eval()
    with torch.no_grad():  # kernels loaded from a channels-last layout: strided views
        for conv in (model[0], model[3]):
            conv.weight.data = conv.weight.data.contiguous(memory_format=torch.channels_last_3d)
    return sv.declare(model, layout=Clip3D(), inputs={"clip": (4, 8, 8, 3)})


def test_strided_weights_are_made_contiguous_on_the_working_copy_only():
    model = _strided_net()
    before = snapshot(model)
    x = {"clip": torch.randn(2, 4, 8, 8, 3, dtype=torch.float64)}
    with TorchBackend(model, "3") as backend:
        assert backend.model is not model  # the BN-folded copy
        assert all(p.is_contiguous() for p in backend.model.parameters())
        a = backend.activations(x)
        g = backend.vjp(torch.ones_like(a))["clip"]
    with TorchBackend(model, "3", fold_batch_norm=False) as plain:
        assert plain.model is model  # no copy: left as the user made it
        torch.testing.assert_close(plain.activations(x), a, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(plain.vjp(torch.ones_like(a))["clip"], g, rtol=1e-10, atol=1e-10)
    assert not model[0].weight.is_contiguous()
    assert_unchanged(model, before)
