"""torchvision's video CNNs by name (zoo/torchvision_video.py).

torchvision's PyPI wheels do not import with the CPU build of torch (they link
libc10_cuda.so and libtorch_cuda.so): the tests that build a model skip there
with that reason and run where torchvision imports (a CUDA build of torch).
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import stviz_core as sv  # noqa: E402
from stviz_adapters.model_loading import load_model  # noqa: E402
from stviz_adapters.zoo import torchvision_video as tvv  # noqa: E402
from stviz_backends.torch import create  # noqa: E402


def _torchvision_reason():
    try:
        tvv.import_torchvision()
    except ValueError as exc:
        return str(exc)
    return None


REASON = _torchvision_reason()
needs_torchvision = pytest.mark.skipif(REASON is not None, reason=f"{REASON}")
#: small clips: S3D pools time and space more before its middle blocks
CLIPS = {"s3d": dict(frames=16, size=64)}


def tiny(name, **options):
    torch.manual_seed(0)
    with pytest.warns(UserWarning, match=f"^torchvision:{name}: no weights given"):
        return tvv.load(name, **{**CLIPS.get(name, dict(frames=8, size=32)), **options})


def middle_block(model):
    """A block halfway down the network (``layer2``; S3D's ``features.<k>``)."""
    names = [n for n, _ in model.named_children()]
    if "layer2" in names:
        return "layer2"
    blocks = [n for n, _ in model.features.named_children()]
    return f"features.{blocks[len(blocks) // 2]}"


def test_a_missing_weights_file_and_an_unknown_name_are_refused_before_torchvision(tmp_path):
    with pytest.raises(ValueError, match=r"no such file; expected a state-dict file of "
                                         r"torchvision\.models\.video\.r2plus1d_18"):
        tvv.r2plus1d_18(weights=tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="unknown torchvision video model 'mvit_v2_s'; offered"):
        tvv.load("mvit_v2_s")


@pytest.mark.skipif(REASON is None, reason="torchvision imports here")
def test_where_torchvision_does_not_import_loading_says_why():
    with pytest.raises(ValueError, match="libc10_cuda.so and libtorch_cuda.so, which the CPU build"):
        load_model("torchvision:r3d_18")


@needs_torchvision
@pytest.mark.parametrize("name", sorted(tvv.MODELS))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["float32", "float64"])
def test_every_family_runs_a_few_steps(name, dtype):
    model = tiny(name).to(dtype)
    assert sv.contract_of(model).labels is not None and len(sv.contract_of(model).labels) == 400
    result = sv.visualize(model, middle_block(model), channels=[0, 3], preset="paper", steps=2,
                          seed=0)
    x = np.asarray(result.inputs["clip"])
    assert x.shape == (2, *sv.contract_of(model).inputs["clip"]) and np.all(np.isfinite(x))


@needs_torchvision
@pytest.mark.parametrize("name", sorted(tvv.MODELS))
def test_batch_norm_folding_keeps_the_outputs(name):
    model = tiny(name).double()
    x = {"clip": torch.randn((2, *sv.contract_of(model).inputs["clip"]), dtype=torch.float64) * 50}
    layer = middle_block(model)
    with create(model, layer=layer, fold_batch_norm=True) as folded:
        assert folded.folded
        a = folded.activations(x, for_vjp=False)
    with create(model, layer=layer, fold_batch_norm=False) as plain:
        b = plain.activations(x, for_vjp=False)
    torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


@needs_torchvision
@pytest.mark.parametrize("name", ["r3d_18", "mc3_18", "r2plus1d_18"])
def test_the_receptive_field_equals_a_brute_force_measurement(name):
    """Spatial extent of the input gradient of the centre unit of layer1 vs the graph's field."""
    model = tiny(name, size=96).double()
    with create(model, layer="layer1", fold_batch_norm=False) as backend:
        rf, _ = backend.receptive_field()
        x = torch.randn((1, 8, 96, 96, 3), dtype=torch.float64) * 50
        acts = backend.activations({"clip": x})
        cot = torch.zeros_like(acts)
        t, h, w = (s // 2 for s in acts.shape[1:4])
        cot[0, t, h, w, :] = 1.0
        grad = backend.vjp(cot)["clip"][0].abs().sum(dim=(0, 2, 3))  # over H
    rows = torch.nonzero(grad > 0).flatten()
    assert int(rows.max() - rows.min() + 1) == rf


@needs_torchvision
def test_a_state_dict_file_loads_back_with_the_same_logits_and_another_is_refused(tmp_path):
    model = tiny("r2plus1d_18")
    path = tmp_path / "r2plus1d.pth"
    torch.save(model.state_dict(), path)
    again = load_model("torchvision:r2plus1d_18(frames=8, size=32)", weights=path)
    x = torch.randn((2, 3, 8, 32, 32)) * 50
    with torch.no_grad():
        torch.testing.assert_close(again(x), model(x), rtol=0, atol=0)
    with pytest.raises(ValueError, match=r"does not fit: expected a state-dict file of "
                                         r"torchvision\.models\.video\.mc3_18"):
        tvv.mc3_18(weights=path)
