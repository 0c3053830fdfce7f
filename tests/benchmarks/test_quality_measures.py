"""The pure measures of benchmarks/quality_measures.py (issue 16 item 6): spectral slopes,
cross-unit correlation, the direction of the strongest flow; and the benchmark's targets."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import quality_measures as qm  # noqa: E402


def power_law_noise(shape, alpha, axes, seed=0):
    """Gaussian noise whose amplitude spectrum falls as ``1/f^alpha`` over ``axes`` (periodic)."""
    rng = np.random.default_rng(seed)
    spectrum = np.fft.fftn(rng.standard_normal(shape), axes=axes)
    f2 = 0.0
    for ax in axes:
        n = shape[ax]
        f2 = f2 + (np.fft.fftfreq(n) * n).reshape([n if a == ax else 1 for a in range(len(shape))]) ** 2
    f = np.sqrt(f2)
    f[f == 0] = 1.0
    return np.real(np.fft.ifftn(spectrum / f**alpha, axes=axes))


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 1.5, 2.0])
def test_spatial_slope_recovers_the_exponent_of_periodic_and_cropped_noise(alpha):
    periodic = power_law_noise((4, 64, 64, 3), alpha, (1, 2), seed=1)
    assert qm.spatial_slope(periodic) == pytest.approx(-alpha, abs=0.1)
    if alpha <= 1.5:  # at 2, structure larger than the crop makes it about 0.08 steeper
        cropped = power_law_noise((4, 256, 256, 3), alpha, (1, 2), seed=2)[:, 100:164, 60:124]
        assert qm.spatial_slope(cropped) == pytest.approx(-alpha, abs=0.1)  # edges do not wrap


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 1.5])
def test_temporal_slope_recovers_the_exponent_of_periodic_and_cropped_noise(alpha):
    periodic = power_law_noise((32, 8, 8, 3), alpha, (0,), seed=3)
    assert qm.temporal_slope(periodic) == pytest.approx(-alpha, abs=0.1)
    cropped = power_law_noise((1024, 8, 8, 3), alpha, (0,), seed=4)[300:332]
    assert qm.temporal_slope(cropped) == pytest.approx(-alpha, abs=0.1)


def test_each_slope_sees_its_own_axes():
    smooth_in_time = power_law_noise((32, 32, 32, 3), 1.5, (0,), seed=5)  # white in space
    assert qm.spatial_slope(smooth_in_time) == pytest.approx(0.0, abs=0.1)
    assert qm.temporal_slope(smooth_in_time) == pytest.approx(-1.5, abs=0.1)
    smooth_in_space = power_law_noise((32, 32, 32, 3), 1.5, (1, 2), seed=6)  # white in time
    assert qm.temporal_slope(smooth_in_space) == pytest.approx(0.0, abs=0.1)


def test_slopes_do_not_depend_on_scale_or_offset_and_refuse_bad_clips():
    x = power_law_noise((8, 64, 64, 3), 1.0, (1, 2), seed=7)
    assert qm.spatial_slope(100 * x + 5) == pytest.approx(qm.spatial_slope(x))
    assert np.isnan(qm.spatial_slope(np.zeros((2, 16, 16, 3))))  # no amplitude: no slope
    with pytest.raises(ValueError, match="clip"):
        qm.spatial_slope(np.zeros((16, 16)))
    with pytest.raises(ValueError, match="4 frames"):
        qm.temporal_slope(np.zeros((2, 16, 16, 3)))


def test_pairwise_correlations_and_their_median():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 2, 5, 5, 3))
    expected = np.corrcoef(x.reshape(4, -1))[np.triu_indices(4, k=1)]
    assert np.allclose(qm.pairwise_correlations(x), expected)
    base = rng.standard_normal((2, 8, 8, 3))
    same = np.stack([base, 2 * base + 1, -base])  # pairs: +1, -1, -1
    assert np.allclose(qm.pairwise_correlations(same), [1, -1, -1])
    assert qm.median_correlation(same) == pytest.approx(-1.0)
    assert abs(qm.median_correlation(rng.standard_normal((10, 4, 16, 16, 3)))) < 0.05
    constant = np.concatenate([same, np.ones((1, 2, 8, 8, 3))])  # NaN pairs are left out
    assert qm.median_correlation(constant) == pytest.approx(-1.0)
    assert np.isnan(qm.median_correlation(base[None]))


def test_strong_flow_points_the_way_of_the_moving_object_not_of_the_background():
    """90 % of the pixels drift weakly up, a blob moves fast down: the mean over all
    pixels points up, the mean over the strongest 10 % points down."""
    rng = np.random.default_rng(0)
    flow = np.zeros((10, 40, 40, 2))
    flow[..., 0] = rng.normal(0, 0.1, flow.shape[:3])
    flow[..., 1] = -0.5 + rng.normal(0, 0.1, flow.shape[:3])
    flow[:, 10:22, 14:27] = (0.2, 3.0)  # 156 of 1600 pixels per frame
    assert flow[..., 1].mean() < 0
    uv = qm.strong_flow_mean(flow, 0.1)
    assert uv[1] == pytest.approx(3.0, abs=0.2) and abs(uv[0]) < 0.5
    assert qm.direction_right("ball_down", uv)
    assert not qm.direction_right("ball_up", uv)
    assert qm.direction_right("square_right", uv)  # u = 0.2 > 0
    assert not qm.direction_right("ball_left", uv)
    assert qm.direction_right("ball_up", qm.strong_flow_mean(-flow))
    assert qm.strong_flow_mean(flow, 1.0) == pytest.approx(flow.reshape(-1, 2).mean(axis=0))
    with pytest.raises(ValueError, match="fraction"):
        qm.strong_flow_mean(flow, 0)


def test_directions_of_the_demo_classes():
    from stviz_adapters.demo.synthetic_actions import CLASSES

    directional = {c: qm.direction_of(c) for c in CLASSES if qm.direction_of(c)}
    assert directional == {"ball_right": (0, 1), "ball_left": (0, -1), "ball_up": (1, -1),
                           "ball_down": (1, 1), "square_right": (0, 1)}
    with pytest.raises(ValueError, match="no direction"):
        qm.direction_right("spin", (1.0, 1.0))


def _entry(preset, top1, corr, spatial, temporal, right=5):
    directions = {c: {"uv": [0.0, 0.0], "right": i < right}
                  for i, c in enumerate(("ball_right", "ball_left", "ball_up", "ball_down",
                                         "square_right"))}
    return {"preset": preset, "classes": {"top1": top1, "median_correlation": corr},
            "channels": {"median_correlation": corr}, "spatial_slope": spatial,
            "temporal_slope": temporal,
            "demo": {"top1": top1, "median_correlation": {"appearance": corr, "flow": corr},
                     "directions": directions, "directions_right": right}}


def test_targets_and_the_best_preset():
    real = {"spatial": -1.6, "temporal": -0.7}
    good = _entry("fourier", 0.95, 0.1, -1.4, -0.9)
    rows = qm.targets(good, real)
    assert [r[3] for r in rows] == [True] * len(rows) and len(rows) == 9
    bad = _entry("maco", 0.5, 0.5, -0.2, 0.0, right=3)
    assert not any(r[3] for r in qm.targets(bad, real))
    paper = _entry("paper", 1.0, 0.1, -1.6, -0.7)  # never the best while another preset ran
    assert qm.best_preset([paper, bad, good], real) == "fourier"
    assert qm.best_preset([paper], real) == "paper"
    assert qm.best_preset([paper, bad], real) == "maco"


def test_pixel_std_and_colourfulness_of_shown_frames():
    grey = np.zeros((4, 16, 16, 3))  # canonical 0: mid-grey 127.5 when shown
    assert qm.pixel_std(grey) == 0.0 and qm.colourfulness(grey) == 0.0
    rng = np.random.default_rng(0)
    halves = np.zeros((2, 8, 8, 3))
    halves[:, :, :4] = 40.0  # half the frame 167.5, half 127.5: std 20
    assert qm.pixel_std(halves) == pytest.approx(20.0)
    assert qm.colourfulness(halves) == 0.0  # grey levels only: no colour
    red = np.zeros((1, 8, 8, 3))
    red[..., 0] = 100.0  # uniform: rg = yb * 2 = 100, no spread, 0.3 * |(100, 50)|
    assert qm.colourfulness(red) == pytest.approx(0.3 * np.hypot(100, 50))
    noise = rng.normal(0, 30, (3, 32, 32, 3))
    assert qm.colourfulness(noise) > qm.colourfulness(noise * 0.5) > 0
    assert qm.pixel_std(1000 * noise) <= 127.5 + 1e-9  # what is shown is clipped to 0..255
    assert qm.pixel_std(noise[:1]) == pytest.approx(qm.rendered(noise[:1]).std())
    with pytest.raises(ValueError, match="RGB"):
        qm.colourfulness(np.zeros((2, 8, 8, 2)))


def test_edge_frame_parity_sees_blurred_end_frames():
    rng = np.random.default_rng(1)
    frame = rng.normal(0, 40, (1, 32, 32, 3))
    still = np.repeat(frame, 8, axis=0)
    assert qm.edge_frame_parity(still) == pytest.approx(1.0)
    moving = power_law_noise((8, 32, 32, 3), 1.0, (0, 1, 2), seed=8)
    assert 0.5 < qm.edge_frame_parity(moving) < 2.0
    blurred = still.copy()
    for t in (0, 7):  # end frames: a 3 x 3 box blur of the middle frame
        padded = np.pad(frame[0], ((1, 1), (1, 1), (0, 0)), mode="edge")
        blurred[t] = sum(padded[i:i + 32, j:j + 32] for i in range(3) for j in range(3)) / 9
    assert qm.edge_frame_parity(blurred) < 0.3
    assert qm.edge_frame_parity(5 * blurred + 3) == pytest.approx(qm.edge_frame_parity(blurred))
    energy = qm.laplacian_energy(still)
    assert energy.shape == (8,) and np.allclose(energy, energy[0])
    assert np.isnan(qm.edge_frame_parity(np.zeros((8, 8, 8, 3))))
    with pytest.raises(ValueError, match="4 frames"):
        qm.edge_frame_parity(still[:3])
    with pytest.raises(ValueError, match="3 x 3"):
        qm.laplacian_energy(np.zeros((4, 2, 8, 3)))


def test_nearest_clip_check_compares_cosines_with_the_clips_of_each_class():
    clips = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.7, 0.7]])
    classes = ["a", "b", "c", "b"]
    cos = qm.codes_cosine([[2.0, 0.0, 0.0]], clips)
    assert np.allclose(cos, [[1.0, 0.0, 0.0, 0.0]])
    vis = np.array([[0.9, 0.1, 0.0], [0.0, 0.6, 0.8], [0.0, 0.1, 0.9]])
    rows = qm.nearest_clip_check(vis, ["a", "b", "b"], clips, classes)
    assert [r["closer"] for r in rows] == [True, True, False]
    assert rows[1]["nearest"] == "b"  # (0, .7, .7), b's second clip, beats c's (0, 0, 1)
    assert rows[1]["own"] == pytest.approx(0.98 / np.hypot(0.7, 0.7))
    assert rows[2]["nearest"] == "c" and rows[2]["own"] < rows[2]["other"]
    assert rows[0]["own"] == pytest.approx(0.9 / np.hypot(0.9, 0.1))
    with pytest.raises(ValueError, match="no clip of class"):
        qm.nearest_clip_check(vis[:1], ["z"], clips, classes)


def test_nearest_clip_check_centred_removes_the_part_every_code_shares():
    shared = np.full(4, 10.0)  # a large common positive part, as ReLU codes have
    clips = shared + np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0]])
    vis = shared * 1.3 + np.array([[0.0, 0.0, 0.6, 0.0]])  # its distinct part is clip c's
    raw = qm.nearest_clip_check(vis, ["c"], clips, ["a", "b", "c"])[0]
    centred = qm.nearest_clip_check(vis, ["c"], clips, ["a", "b", "c"], centre=True)[0]
    assert raw["own"] - raw["other"] < 0.01  # the shared part hides the difference
    assert centred["closer"] and centred["nearest"] == "c"
    assert centred["own"] - centred["other"] > 0.5
    moved = qm.nearest_clip_check(vis + [[0.0, 0.0, -1.2, 0.0]], ["c"], clips, ["a", "b", "c"],
                                  centre=True)[0]
    assert not moved["closer"]  # the distinct part away from c's: the check fails


def test_targets_of_issue_24_contrast_colour_parity_and_codes():
    real = {"spatial": -1.6, "temporal": -0.7, "pixel_std": 40.0, "colourfulness": 30.0,
            "parity": 1.0}
    entry = {**_entry("fourier", 0.95, 0.1, -1.4, -0.9), "pixel_std": 33.0,
             "colourfulness": 23.0, "parity": 0.95, "feature": {"closer": 4, "of": 5}}
    rows = {r[0].split(" (")[0]: r for r in qm.targets(entry, real)}
    assert rows["I3D: pixel std / real clips'"][1] == pytest.approx(33 / 40)
    assert rows["I3D: pixel std / real clips'"][3]  # 0.825 >= 0.8
    assert not rows["I3D: colourfulness / real clips'"][3]  # 0.77 < 0.8
    assert rows["I3D: edge-frame parity"][3]
    assert not rows["I3D: Mixed_5c code nearest"][3]  # 4 of 5
    assert len(qm.targets(entry, real)) == 13
    assert len(qm.targets(_entry("fourier", 0.95, 0.1, -1.4, -0.9), real)) == 9  # issue 16's only
