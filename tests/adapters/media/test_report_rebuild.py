"""The report as a user reads it (#18 item 13): stviz report rebuilds the demo's page, row labels
fit their rows, and the layer-by-layer figure labels its columns and draws every field by one rule."""

import shutil

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("imageio")

import stviz_core as sv  # noqa: E402
from stviz_core.testing import LinearBackend  # noqa: E402


@pytest.fixture
def figures(monkeypatch):
    """The matplotlib figures the writers close, kept for inspection."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    kept, close = [], plt.close

    def keep(fig=None):
        kept.append(fig)
        fig.canvas.draw()
        return close(fig)

    monkeypatch.setattr(plt, "close", keep)
    return kept


def two_stream_result(layer, rho, stride, gamma=1.0, n=3):
    be = LinearBackend({"rgb": np.ones((1, 3, 3, 3, n)), "flow": np.ones((4, 3, 3, 2, n))},
                       {"rgb": ((1, 16, 16, 3), "appearance"), "flow": ((4, 16, 16, 2), "motion")},
                       xp=np)
    result = sv.ascend(be, [sv.channel(c) for c in range(n)], steps=2, seed=0,
                       preset=sv.presets.paper(gamma=gamma), rho=rho, stride=stride)
    result.config["layer"] = layer
    return result


def test_row_labels_fit_their_rows(tmp_path, figures):
    from stviz_adapters.media.figures import unit_grid

    result = two_stream_result("conv5_fusion", 7, 1)
    labels = [f"conv5_fusion unit {u} ({name})" for u, name in
              ((12, "square_right"), (48, "ball_down"), (26, "oscillate"))]
    unit_grid({"gamma = 0": result, "gamma = 1": result}, tmp_path / "g.png", unit_labels=labels)
    fig = figures[-1]
    boxes = [ax.yaxis.label.get_window_extent() for ax in fig.axes[::4]]
    rows = [ax.get_window_extent() for ax in fig.axes[::4]]
    assert len(boxes) == 3
    for box, row in zip(boxes, rows, strict=True):  # each label within its own row's height
        assert box.y0 >= row.y0 - 2 and box.y1 <= row.y1 + 2, (box, row)
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_layer_by_layer_draws_fields_past_the_input_by_one_rule_and_labels_columns(tmp_path, figures):
    from stviz_adapters.media.report import write_report

    # conv5 reaches past the 16-pixel input (field 20); fc8 sees the whole input (reported as 16)
    conv5 = two_stream_result("conv5_fusion", 20, 4, gamma=5.0, n=2)
    fc8 = two_stream_result("fc8", 16, 8, gamma=5.0, n=4)
    conv1 = two_stream_result("conv1", 4, 1, gamma=5.0, n=4)
    results = [("conv1_g5", conv1), ("conv5_fusion_g5", conv5), ("fc8_g5", fc8)]
    write_report(tmp_path, [], results=results, by_layer=True, most=4, log=lambda *a: None)
    fig = next(f for f in figures if any("conv1" in t.get_text() for t in f.texts))
    bands = {t.get_text().split("\n")[0]: t for t in fig.texts}
    assert list(sorted(bands, key=lambda k: -bands[k].get_position()[1])) == [
        "conv1", "conv5_fusion", "fc8"]  # shallow to deep, top to bottom
    assert "field 20 > input:\ndrawn as 16" in bands["conv5_fusion"].get_text()
    assert "field 16\n(the whole input)" in bands["fc8"].get_text()
    assert all("gamma 5" in t.get_text() for t in bands.values())  # the flow's gamma
    size = {}
    for ax in fig.axes:
        y = ax.get_position().y0
        label = min(bands, key=lambda k: abs(bands[k].get_position()[1] - y - ax.get_position().height / 2))
        size[label] = ax.get_position().width
    assert size["fc8"] == pytest.approx(size["conv5_fusion"])  # the same field as drawn
    assert size["conv1"] < size["fc8"]
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles.count("rgb") == 3 and titles.count("flow (motion)") == 3
    assert (tmp_path / "layers.png").is_file()


def test_stviz_report_rebuilds_the_demo_page(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("cv2")
    from stviz_adapters.cli import main
    from stviz_adapters.demo.run import ACTIVITY_FILE, TOP_CLIPS_FILE, rebuild_demo_report, run_demo
    from stviz_adapters.media.report import MANIFEST

    out = tmp_path / "demo"
    run_demo(out, steps=1, units=2, gammas=(0.0, 1.0), log=lambda *a: None,
             kinetics_section=False)
    written = {p.name: p.read_bytes() for p in [*out.glob("*.png"), out / "index.html"]}
    assert {"grid_conv5_fusion.png", "grid_fc8.png", "index.html"} <= set(written)
    assert (out / ACTIVITY_FILE).is_file() and (out / TOP_CLIPS_FILE).is_file()
    for name in ("grid_conv5_fusion.png", "grid_fc8.png", "index.html"):
        (out / name).unlink()
    assert (out / MANIFEST).is_file()  # the page records its sections: stviz report needs no demo code
    assert main(["report", str(out), "--quiet"]) == 0
    again = {p.name: p.read_bytes() for p in [*out.glob("*.png"), out / "index.html"]}
    assert again.keys() == written.keys()
    for name, data in written.items():
        assert again[name] == data, f"{name} differs from the demo's"
    # a demo folder written before pages had a manifest: rebuilt from the files the demo keeps
    shutil.rmtree(out / "report")
    for name in ("grid_conv5_fusion.png", "grid_fc8.png", "index.html"):
        (out / name).unlink()
    rebuild_demo_report(out, log=lambda *a: None)
    for name, data in written.items():
        assert (out / name).read_bytes() == data, f"{name} differs from the demo's"
