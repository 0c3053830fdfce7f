"""Rendering: flow to RGB, the colour wheel, videos read back, figure grids."""

import numpy as np
import pytest

imageio = pytest.importorskip("imageio.v3")
pytest.importorskip("matplotlib")

import stviz_core as sv  # noqa: E402
from stviz_adapters.media.figures import unit_grid  # noqa: E402
from stviz_adapters.media.render import (appearance_to_rgb, flow_to_rgb, flow_to_wheel,  # noqa: E402
                                   side_by_side, write_gif, write_mp4, write_result_videos)
from stviz_core.testing import LinearBackend  # noqa: E402


def test_rightward_flow_is_red_dominant_and_blue_is_the_normalized_speed():
    rng = np.random.default_rng(0)
    flow = np.zeros((4, 8, 8, 2))
    flow[..., 0] = rng.uniform(1, 5, (4, 8, 8))  # everything moves right, at varying speed
    rgb = flow_to_rgb(flow).astype(float)
    mag = np.hypot(flow[..., 0], flow[..., 1])
    np.testing.assert_allclose(rgb[..., 2], np.round(255 * (mag - mag.min()) / (mag.max() - mag.min())))
    assert rgb[..., 1].max() == 0  # v is constant: min-max leaves it at 0
    both = np.concatenate([flow, -flow], axis=1)  # left half moves right, right half left
    rgb = flow_to_rgb(both).astype(float)
    assert rgb[:, :8, :, 0].mean() > 200 and rgb[:, 8:, :, 0].mean() < 55


def test_minmax_is_over_the_whole_sequence():
    flow = np.zeros((2, 4, 4, 2))
    flow[0, ..., 0], flow[1, ..., 0] = 1.0, 3.0
    rgb = flow_to_rgb(flow)
    assert rgb[0, ..., 0].max() == 0 and rgb[1, ..., 0].min() == 255


def test_colour_wheel_directions():
    flow = np.zeros((1, 1, 4, 2))
    flow[0, 0] = [[1, 0], [0, 1], [-1, 0], [0, 0]]
    col = flow_to_wheel(flow)[0, 0].astype(int)
    assert tuple(col[3]) == (255, 255, 255)  # no motion is white
    assert col[0, 0] > col[0, 2] and col[2, 2] > col[2, 0]  # right is reddish, left bluish
    with pytest.raises(ValueError, match=r"flow must be \(T, H, W, 2\)"):
        flow_to_rgb(np.zeros((4, 4, 2)))


def test_appearance_rendering():
    x = np.linspace(-50, 50, 2 * 3 * 3 * 3).reshape(2, 3, 3, 3)
    img = appearance_to_rgb(x)
    assert img.min() == 0 and img.max() == 255
    back = appearance_to_rgb(np.zeros((1, 2, 2, 3)), mean=[120, 110, 100])
    assert tuple(back[0, 0, 0]) == (120, 110, 100)


def test_gif_and_mp4_read_back_with_frames_and_size(tmp_path):
    app = np.full((1, 10, 12, 3), 100, np.uint8)
    mot = np.random.default_rng(0).integers(0, 255, (6, 10, 12, 3), dtype=np.uint8)
    video = side_by_side(app, mot, gap=2)
    assert video.shape == (6, 10, 26, 3)
    gif = imageio.imread(write_gif(video, tmp_path / "v.gif", fps=5), index=None)
    assert gif.shape[:3] == (6, 10, 26)
    mp4 = imageio.imread(write_mp4(video, tmp_path / "v.mp4", fps=5, scale=2), index=None)
    assert mp4.shape[:3] == (6, 20, 52)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.gif", "v.mp4"]  # no temporaries


def small_result(gamma):
    be = LinearBackend({"rgb": np.ones((1, 3, 3, 3, 2)), "flow": np.ones((4, 3, 3, 2, 2))},
                       {"rgb": (1, 8, 8, 3), "flow": (4, 8, 8, 2)}, xp=np)
    return sv.ascend(be, [sv.channel(0), sv.channel(1)], steps=5, seed=0,
                     preset=sv.presets.anisotropic(gamma))


def test_result_videos_and_grid(tmp_path):
    r = small_result(1.0)
    written = write_result_videos(r, tmp_path, "unit")
    assert [p.name for p in written] == ["unit_0.gif", "unit_0.mp4", "unit_1.gif", "unit_1.mp4"]
    assert imageio.imread(tmp_path / "unit_1.gif", index=None).shape[0] == 4
    path = unit_grid({"gamma = 0": small_result(0.0), "gamma = 1": r}, tmp_path / "grid.png",
                     unit_labels=["a", "b"])
    img = imageio.imread(path)
    assert img.ndim == 3 and img.shape[0] > 100 and img.std() > 5


def test_grid_with_activity_bars_and_top_clips(tmp_path):
    from stviz_adapters.activity import Activity

    act = Activity("linear", np.array([1.0, 2.0]), np.array([[1.0, 0.5], [0.2, 2.0], [0.3, 1.0]]),
                   np.array([[0, 1], [1, 0]]), np.array([[1.0, 0.9], [2.0, 1.0]]), ["a", "b", "c"])
    frames = [np.full((8, 8, 3), v, np.uint8) for v in (40, 200)]
    path = unit_grid({"g": small_result(1.0)}, tmp_path / "g.png", activity=act, channels=[0, 1],
                     top_clips=frames)
    assert imageio.imread(path).shape[1] > 300
