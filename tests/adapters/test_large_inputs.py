"""Huge inputs stay cheap (issue 28 item 4): window counts bounded without a loop over the count,
and a long video read lazily (only the frames a clip uses)."""

import time
import tracemalloc
from types import SimpleNamespace

import numpy as np
import pytest

iio = pytest.importorskip("imageio.v3")
pytest.importorskip("imageio_ffmpeg")

from stviz_adapters.media.video_io import clip_windows, count_frames  # noqa: E402


@pytest.fixture(scope="module")
def long_video(tmp_path_factory):
    """3,000 frames of 64 x 64 (a moving gradient), H.264: 36 MiB decoded, a few KiB on disk."""
    path = tmp_path_factory.mktemp("video") / "long.mp4"
    ramp = np.arange(64, dtype=np.uint16) * 4
    frames = ((np.arange(3000, dtype=np.uint16)[:, None, None] * 2 + ramp[None, None, :]
               + ramp[None, :, None]) % 256).astype(np.uint8)
    iio.imwrite(path, np.repeat(frames[..., None], 3, axis=-1), fps=25, codec="libx264",
                macro_block_size=1)
    return path


def test_window_counts_are_not_looped_over():
    t = time.perf_counter()
    starts = clip_windows(40_000, 16, 10**12)
    assert time.perf_counter() - t < 1.0
    assert starts == list(range(40_000 - 16 + 1))  # every start, as 10^12 evenly spaced windows give
    for length, frames, count in [(40, 16, 25), (40, 16, 24), (100, 8, 30), (17, 16, 5)]:
        last = length - frames
        spread = sorted({int(round(i * last / (count - 1))) for i in range(count)})
        assert clip_windows(length, frames, count) == spread


def test_a_long_video_is_read_lazily(long_video):
    """The central window of 3,000 frames: counted without keeping frames, then only its 4 frames
    decoded into memory (the whole video would be 36 MiB)."""
    from stviz_adapters.clips import load_clip

    assert count_frames(long_video) == 3000
    model = SimpleNamespace(stviz_inputs={"clip": (4, 64, 64, 3)})
    tracemalloc.start()
    try:
        clip = load_clip(model, long_video)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert clip.details["frames"] == [1498, 1502]
    assert clip.inputs["clip"].shape == (1, 4, 64, 64, 3)
    assert peak < 8 * 2**20, f"peak {peak / 2**20:.1f} MiB"
    with_start = load_clip(model, long_video, start=1498)
    np.testing.assert_array_equal(with_start.inputs["clip"], clip.inputs["clip"])


def test_record_with_a_huge_window_count(long_video, tmp_path, capsys):
    """--windows 10^12 is refused at once with the limit; the API's count is every start."""
    pytest.importorskip("click")
    pytest.importorskip("torch")
    from stviz_adapters.cli import main

    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / "long.mp4").symlink_to(long_video)
    t = time.perf_counter()
    assert main(["record", "tests.adapters.cli.test_bad_input_table:tiny_model", str(folder),
                 "--layer", "2", "--windows", "1000000000000", "--out",
                 str(tmp_path / "a.npz")]) == 2
    assert time.perf_counter() - t < 5.0
    assert "give 1 to 10000" in capsys.readouterr().err
    assert not (tmp_path / "a.npz").exists()
