"""Starting from a given clip (init=), continuing a Result, feature inversion and accentuation."""

import re
import warnings

import numpy as np
import pytest

import stviz_core as sv
from stviz_core.testing import LinearBackend
from stviz_core.transforms import Transforms

from tests.conftest import asarray, host

B = 160.0


def linear_two_stream(xp, *, seed=0, channels=2, size=8):
    rng = np.random.default_rng(seed)
    return LinearBackend(
        {"rgb": rng.standard_normal((1, 3, 3, 3, channels)),
         "flow": rng.standard_normal((2, 3, 3, 2, channels))},
        {"rgb": ((1, size, size, 3), "appearance"), "flow": ((2, size, size, 2), "motion")},
        xp=xp)


def clip_for(be, seed=1, scale=40.0, batch=1):
    rng = np.random.default_rng(seed)
    return {k: scale * rng.standard_normal((batch, *s.shape)) for k, s in be.inputs.items()}


def max_diff(a, b):
    return max(float(np.abs(np.asarray(a[k]) - np.asarray(b[k])).max()) for k in a)


# -- init= and continuation ---------------------------------------------------


@pytest.mark.parametrize("parameterization", ["pixel", "fourier", "maco"])
def test_a_result_continues_a_run_exactly(xp, parameterization):
    """50 + 50 steps equal 100 when the first run is planned for 100 and keeps its state."""
    if parameterization != "pixel" and xp.__name__.endswith("array_api_strict"):
        pytest.skip("the spectral parameterizations' FFT path is covered on numpy and torch")
    be = linear_two_stream(xp)
    objectives = [sv.channel(0), sv.channel(1)]
    options = dict(seed=[3, 4], stride=2, parameterization=parameterization, preset="paper")
    full = sv.ascend(be, objectives, steps=20, **options)
    first = sv.ascend(be, objectives, steps=10, schedule_steps=20, keep_state=True, **options)
    assert first.config["plan"] == {"first_step": 0, "schedule_steps": 20}
    rest = sv.ascend(be, objectives, steps=10, init=first, stride=2,
                     parameterization=parameterization, preset="paper")
    assert rest.config["init"]["kind"] == "result" and rest.config["init"]["steps_done"] == 10
    assert rest.config["init"]["optimizer_state"] == "restored"
    assert rest.config["seeds"] == [3, 4]
    assert rest.config["plan"] == {"first_step": 10, "schedule_steps": 20}
    assert max_diff(full.inputs, rest.inputs) == 0.0
    for key in full.trace:
        np.testing.assert_array_equal(np.concatenate([first.trace[key], rest.trace[key]]),
                                      full.trace[key])


def test_a_continuation_keeps_transforms_and_survives_save_and_load(tmp_path):
    be = linear_two_stream(np)
    options = dict(seed=5, stride=2, preset="paper", transforms=Transforms(scale=(0.9, 1.1), rotate=(-5, 5),
                                                           time_shift=1))
    full = sv.ascend(be, sv.channel(0), steps=12, **options)
    first = sv.ascend(be, sv.channel(0), steps=6, schedule_steps=12, keep_state=True, **options)
    first.save(tmp_path / "first")
    loaded = sv.load(tmp_path / "first")
    assert sorted(loaded.state) == ["adam/mu/flow", "adam/mu/rgb", "adam/nu/flow", "adam/nu/rgb"]
    rest = sv.ascend(be, sv.channel(0), steps=6, init=loaded, stride=2,
                     transforms=options["transforms"], preset="paper")
    assert max_diff(full.inputs, rest.inputs) == 0.0


def test_without_the_kept_state_adam_restarts_and_that_is_the_only_difference():
    """The documented difference: a result saved without keep_state is continued with Adam's
    moments at zero; it equals a continuation whose kept moments are zeroed."""
    be = linear_two_stream(np)
    full = sv.ascend(be, sv.channel(0), steps=20, seed=1, stride=2, preset="paper")
    first = sv.ascend(be, sv.channel(0), steps=10, seed=1, stride=2, schedule_steps=20,
                      keep_state=True, preset="paper")
    restarted = sv.ascend(be, sv.channel(0), steps=10, stride=2,
                          init=sv.Result(first.inputs, first.config, first.trace, first.final), preset="paper")
    assert restarted.config["init"]["optimizer_state"] == "restarted"
    zeroed = sv.Result(first.inputs, dict(first.config, optimizer_state={"kept": True, "count": 0}),
                       first.trace, first.final, {k: 0 * v for k, v in first.state.items()})
    same = sv.ascend(be, sv.channel(0), steps=10, stride=2, init=zeroed, preset="paper")
    assert max_diff(restarted.inputs, same.inputs) == 0.0
    assert max_diff(restarted.inputs, full.inputs) > 1.0  # a visible difference, as documented


def test_a_continuation_past_the_plan_extends_it():
    be = linear_two_stream(np)
    first = sv.ascend(be, sv.channel(0), steps=5, seed=2, keep_state=True, preset="paper")
    assert "plan" not in first.config
    rest = sv.ascend(be, sv.channel(0), steps=5, init=first, preset="paper")
    assert rest.config["plan"] == {"first_step": 5, "schedule_steps": 10}
    with pytest.raises(ValueError, match="schedule_steps=8 is shorter than the run: 5 step"):
        sv.ascend(be, sv.channel(0), steps=5, init=first, schedule_steps=8, preset="paper")


def test_a_clip_init_starts_there(xp):
    be = linear_two_stream(xp)
    clip = clip_for(be)
    r = sv.ascend(be, sv.channel(0, normalize=False), steps=1, init=clip, jitter=False,
                  objective_scale="paper", preset="paper")
    expected = float(np.asarray(sv.channel(0, normalize=False).value(
        be.activations({k: xp.asarray(v) for k, v in clip.items()})))[0])
    assert r.trace["objective"][0, 0] == pytest.approx(expected, rel=1e-12)
    assert r.config["init"] == {"kind": "clip", "source": "arrays", "inputs": ["flow", "rgb"],
                                "noise": []}


def test_fourier_starts_from_the_clip_exactly():
    be = linear_two_stream(np)
    clip = clip_for(be)
    runs = [sv.ascend(be, sv.channel(0), steps=1, init=clip, jitter=False, parameterization=p, preset="paper")
            for p in ("pixel", "fourier")]
    assert runs[1].trace["objective"][0, 0] == pytest.approx(runs[0].trace["objective"][0, 0],
                                                             rel=1e-10)


def test_one_clip_for_a_batch_and_inputs_left_to_noise():
    be = linear_two_stream(np)
    clip = clip_for(be)
    r = sv.ascend(be, [sv.channel(0), sv.channel(1)], seed=[7, 8], steps=1, learning_rate=1e-9,
                  init=sv.Clip({"rgb": clip["rgb"][0]}, source="one frame"), preset="paper")
    noise = sv.ascend(be, [sv.channel(0), sv.channel(1)], seed=[7, 8], steps=1, learning_rate=1e-9, preset="paper")
    np.testing.assert_allclose(r.inputs["rgb"], np.repeat(clip["rgb"], 2, axis=0), atol=1e-6)
    np.testing.assert_allclose(r.inputs["flow"], noise.inputs["flow"], atol=1e-6)
    assert r.config["init"]["source"] == "one frame" and r.config["init"]["noise"] == ["flow"]


def test_an_init_outside_the_bound_is_projected_and_said_so():
    be = linear_two_stream(np)
    clip = clip_for(be, scale=1.0)
    clip["rgb"][0, 0, 0, 0] = [300.0, 0.0, 0.0]
    with pytest.warns(UserWarning, match=r"input 'rgb' lie outside the hard bound B = 160 \(largest "
                                         r"norm 300\); they are projected onto it"):
        r = sv.ascend(be, sv.channel(0), steps=1, learning_rate=1e-9, init=clip, jitter=False, preset="paper")
    projected = r.config["init"]["projected"]
    assert list(projected) == ["rgb"] and projected["rgb"]["largest_norm"] == 300.0
    assert projected["rgb"]["fraction"] == pytest.approx(1 / 64)
    assert np.linalg.norm(r.inputs["rgb"][0, 0, 0, 0]) == pytest.approx(B, rel=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inside the bound: no warning
        sv.ascend(be, sv.channel(0), steps=1, init=clip_for(be, scale=1.0), preset="paper")


@pytest.mark.parametrize("init, match", [
    ({"rgb": np.zeros((1, 1, 8, 7, 3))},
     r"init input 'rgb' has shape \(1, 1, 8, 7, 3\); the model takes \(N or 1, 1, 8, 8, 3\)"),
    ({"rgb": np.zeros((3, 1, 8, 8, 3))}, r"holds 3 clips for 2 visualization\(s\): give 1"),
    ({"clip": np.zeros((1, 1, 8, 8, 3))},
     r"init has input\(s\) 'clip' the model does not take; its inputs \(T, H, W, C\) are: "
     r"flow \(2, 8, 8, 2\), rgb \(1, 8, 8, 3\)"),
    ({"rgb": np.full((1, 1, 8, 8, 3), np.nan)}, "holds 192 non-finite value"),
    ("video.mp4", "init must be None .noise., canonical inputs"),
])
def test_bad_inits_are_refused_with_the_expected_shape(init, match):
    with pytest.raises((ValueError, TypeError), match=match):
        sv.ascend(linear_two_stream(np), [sv.channel(0), sv.channel(1)], steps=1, init=init, preset="paper")


def test_maco_takes_no_clip_and_says_which_do():
    be = linear_two_stream(np)
    with pytest.raises(ValueError, match="'maco' parameterization cannot start from a given clip.*"
                                         "'pixel' and 'fourier'"):
        sv.ascend(be, sv.channel(0), steps=1, init=clip_for(be), parameterization="maco", preset="paper")


def test_a_result_of_another_run_is_not_continued():
    be = linear_two_stream(np)
    first = sv.ascend(be, sv.channel(0), steps=2, preset="paper")
    with pytest.raises(ValueError, match=r"whose objectives are \['channel\(0\)'\]; this run's are "
                                         r"\['channel\(1\)'\].*init=stviz_core.Clip"):
        sv.ascend(be, sv.channel(1), steps=2, init=first, preset="paper")
    with pytest.raises(ValueError, match="the result optimized the 'pixel' parameterization"):
        sv.ascend(be, sv.channel(0), steps=2, init=first, parameterization="fourier", preset="paper")
    # a new run from its inputs is fine
    r = sv.ascend(be, sv.channel(1), steps=2, init=sv.Clip(first.inputs, source="first"), preset="paper")
    assert r.config["init"]["kind"] == "clip"


# -- clips from files (adapters) ------------------------------------------------


@pytest.fixture(scope="module")
def demo_video(tmp_path_factory):
    """A synthetic 'spin' clip of the demo's data set (13 frames), written as a GIF."""
    pytest.importorskip("cv2")
    from stviz_adapters.demo.synthetic_actions import FRAMES, render_clip
    from stviz_adapters.media.render import write_gif

    path = tmp_path_factory.mktemp("video") / "spin.gif"
    write_gif(render_clip(5, np.random.default_rng(0), frames=FRAMES + 2), path)
    return path


def test_a_video_becomes_the_two_stream_inputs_as_the_demo_data_are_made(demo_video):
    from stviz_adapters.clips import load_clip
    from stviz_adapters.demo.synthetic_actions import FLOW_SCALE, MEAN_RGB, tvl1_flow
    from stviz_adapters.media.video_io import read_video

    class Model:
        stviz_inputs = {"rgb": (1, 64, 64, 3), "flow": (10, 64, 64, 2)}

    clip = load_clip(Model(), demo_video)
    frames = read_video(demo_video).frames[1:12]  # the central window of 11 of 13 frames
    np.testing.assert_allclose(clip.inputs["rgb"][0, 0], frames[5] - MEAN_RGB, atol=1e-4)
    np.testing.assert_allclose(clip.inputs["flow"][0], tvl1_flow(frames) * FLOW_SCALE, atol=1e-4)
    assert clip.source == str(demo_video) and clip.details["frames"] == [1, 12]
    later = load_clip(Model(), demo_video, start=2)
    assert later.details["frames"] == [2, 13]
    with pytest.raises(ValueError, match="has 13 frame.*need 14"):
        load_clip(Model(), demo_video, start=3)


def test_inputs_files_and_saved_results_are_clips(tmp_path):
    from stviz_adapters.clips import load_clip

    be = linear_two_stream(np)
    inputs = clip_for(be)
    np.savez(tmp_path / "input.npz", **inputs)
    clip = load_clip(None, tmp_path / "input.npz")
    assert max_diff(clip.inputs, inputs) == 0 and clip.details == {"from": "inputs file"}
    saved = sv.ascend(be, sv.channel(0), steps=2, preset="paper").save(tmp_path / "run")
    clip = load_clip(None, f"{saved}.json")
    assert clip.details["from"] == "result" and clip.source == str(saved)
    with pytest.raises(FileNotFoundError, match="no clip at .*missing.mp4: give a video file"):
        load_clip(None, tmp_path / "missing.mp4")


# -- the feature-matching objective ---------------------------------------------


def test_feature_match_value_is_the_normalized_distance(xp):
    rng = np.random.default_rng(0)
    code, acts = rng.standard_normal((2, 3, 4, 5)), rng.standard_normal((2, 3, 4, 5))
    got = host(sv.feature_match(code).value(asarray(xp, acts)))
    want = -((acts - code) ** 2).sum(axis=(1, 2, 3)) / (code**2).sum(axis=(1, 2, 3))
    np.testing.assert_allclose(got, want, rtol=1e-13)
    assert host(sv.feature_match(code).value(asarray(xp, code))).tolist() == [0.0, 0.0]


@pytest.mark.parametrize("objective", ["match", "composite", "per_item"])
def test_feature_match_cotangent_against_finite_differences(xp, objective):
    rng = np.random.default_rng(1)
    code = rng.standard_normal((1, 3, 4, 6))
    acts = code[[0, 0]] + 0.3 * rng.standard_normal((2, 3, 4, 6))
    obj = {"match": sv.feature_match(code),
           "composite": sv.channel(3) + 0.5 * sv.feature_match(code) - sv.neuron(1),
           "per_item": sv.per_item([sv.feature_match(code), sv.channel(2) - sv.feature_match(code)]),
           }[objective]
    ctx = sv.Context(rho=3.0)
    assert not obj.linear
    value, cot = (host(a) for a in sv.objectives.value_and_cotangent(obj, asarray(xp, acts), ctx))
    np.testing.assert_allclose(value, host(obj.value(asarray(xp, acts), ctx)), rtol=1e-13)
    np.testing.assert_allclose(cot, host(obj.cotangent(asarray(xp, acts), ctx)), rtol=1e-13)
    for seed in range(3):
        v = np.random.default_rng(10 + seed).standard_normal(acts.shape)
        for eps in (1e-3, 1e-5):
            up = host(obj.value(asarray(xp, acts + eps * v), ctx))
            down = host(obj.value(asarray(xp, acts - eps * v), ctx))
            np.testing.assert_allclose((up - down) / (2 * eps), (cot * v).reshape(2, -1).sum(1),
                                       rtol=1e-7, atol=1e-9)


def test_only_the_unit_terms_take_the_automatic_scale():
    be = linear_two_stream(np)
    code = sv.codes.encode(be, clip_for(be))
    unit = sv.ascend(be, sv.channel(0), steps=2, seed=4, preset="paper")
    both = sv.ascend(be, sv.channel(0) + 0.5 * sv.feature_match(code), steps=2, seed=4, preset="paper")
    alone = sv.ascend(be, sv.feature_match(code), steps=2, seed=4, preset="paper")
    assert both.config["quality"][0]["scale"] == unit.config["quality"][0]["scale"] != 1.0
    assert both.config["objective_scale"]["applied"] == "auto"
    assert "scale_free" in both.config["objective_scale"]
    assert alone.config["objective_scale"]["applied"] == "paper"
    assert alone.config["quality"][0]["scale"] == 1.0 and alone.config["quality"][0]["feature_match"]
    from stviz_core.quality import warnings as quality_warnings

    assert quality_warnings(dict(alone.config["quality"][0], unit_share_end=0.0)) == []
    # the trace's objective is the scaled unit plus the unscaled match, at the same inputs
    s = unit.config["quality"][0]["scale"]
    x = {k: v for k, v in both.inputs.items()}
    acts = be.activations(x)
    want = s * sv.channel(0).value(acts, sv.Context(rho=3.0)) + 0.5 * sv.feature_match(code).value(acts)
    np.testing.assert_allclose(both.final["objective"], want, rtol=1e-12)


def test_inverting_a_linear_backend_recovers_the_row_space_component(xp):
    """A = x W per pixel: the normalized distance's gradient lies in range(W) pixel by pixel, so
    (with Adam's moment shared per pixel and no regularizer) the null-space component stays as
    initialized and the range component converges to the clip's: P x = P x0, (I-P) x = (I-P) x_init."""
    from stviz_core.presets import StreamRegularization

    rng = np.random.default_rng(0)
    w = np.linalg.qr(rng.standard_normal((3, 3)))[0][:, :2] * 1.5
    be = LinearBackend({"clip": w.reshape(1, 1, 1, 3, 2)}, {"clip": ((2, 6, 6, 3), "appearance")},
                       xp=xp)
    free = StreamRegularization(lambda_norm=0.0, lambda_tv=0.0, bound=1e6)
    preset = sv.presets.paper().replace(appearance=free, motion=free, init_scale=1e-4)
    x0 = 40 * rng.standard_normal((1, 2, 6, 6, 3))
    code = sv.codes.encode(be, {"clip": x0})
    options = dict(preset=preset, jitter=False, seed=2, learning_rate=sv.optim.Exponential(8.0, 1e-3))
    start = sv.ascend(be, sv.feature_match(code), steps=1, **dict(options, learning_rate=1e-300))
    r = sv.ascend(be, sv.feature_match(code), steps=1000, **options)
    p = w @ np.linalg.solve(w.T @ w, w.T)
    x, x_init = r.inputs["clip"], start.inputs["clip"]
    np.testing.assert_allclose(x @ p, x0 @ p, atol=1e-6 * 40)
    np.testing.assert_allclose(x @ (np.eye(3) - p), x_init @ (np.eye(3) - p), atol=1e-9 * 40)
    assert -r.final["objective"][0] < 1e-15


def test_codes_of_another_layer_or_shape_are_refused_with_both(tmp_path):
    be = linear_two_stream(np)
    code = sv.codes.encode(be, clip_for(be))
    assert code.layer == "linear" and code.model == "LinearBackend" and code.shape == (1, 6, 6, 2)
    loaded = sv.Code.load(code.save(tmp_path / "code"))
    np.testing.assert_array_equal(loaded.activations, code.activations)
    assert (loaded.layer, loaded.source) == ("linear", "arrays")
    other = sv.Code(code.activations, layer="conv5_fusion")
    with pytest.raises(ValueError, match="the target code is from layer 'conv5_fusion'; this run's "
                                         "layer is 'linear'"):
        sv.ascend(be, sv.feature_match(other), steps=1, preset="paper")
    small = sv.Code(np.ones((1, 4, 4, 2)), layer="linear")
    be.activation_shape = (1, 1, 6, 6, 2)
    with pytest.raises(ValueError, match=r"target code is \(4, 4, 2\) per visualization \(layer "
                                         r"linear\), layer 'linear' gives activations of \(1, 6, 6, 2\)"):
        sv.ascend(be, sv.feature_match(small), steps=1, preset="paper")
    del be.activation_shape  # without it, the first forward pass says the same
    with pytest.raises(ValueError, match=r"target code is \(4, 4, 2\) per visualization.*gives "
                                         r"activations of \(1, 6, 6, 2\)"):
        sv.ascend(be, sv.feature_match(sv.Code(np.ones((1, 4, 4, 2)))), steps=1, preset="paper")
    with pytest.raises(ValueError, match="target code holds 2 clips' codes for a batch of 3"):
        sv.ascend(be, sv.feature_match(sv.codes.encode(be, clip_for(be, batch=2))), seed=[0, 1, 2],
                  steps=1, preset="paper")
    with pytest.raises(ValueError, match="clip 0 is all zeros"):
        sv.feature_match(np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="is not a saved code"):
        sv.Code.load(np.savez(tmp_path / "x.npz", a=np.ones(2)) or tmp_path / "x.npz")


def test_feature_match_of_a_clip_is_encoded_when_the_run_is_planned():
    be = linear_two_stream(np)
    clip = clip_for(be)
    by_clip = sv.ascend(be, sv.feature_match(clip), steps=3, seed=1, preset="paper")
    by_code = sv.ascend(be, sv.feature_match(sv.codes.encode(be, clip)), steps=3, seed=1, preset="paper")
    assert max_diff(by_clip.inputs, by_code.inputs) == 0.0
    assert by_clip.config["objective"] == by_code.config["objective"]
    with pytest.raises(ValueError, match="encoded when a run is planned"):
        sv.feature_match(clip).value(np.zeros((1, 6, 6, 2)))


# -- accentuation: a unit strengthened in a clip, kept near it --------------------


def pointwise(xp, w_rgb=(0.3, -1.0, 0.5), w_flow=(2.0, 0.7), size=8):
    return LinearBackend({"rgb": np.reshape(w_rgb, (1, 1, 1, 3, 1)),
                          "flow": np.reshape(w_flow, (1, 1, 1, 2, 1))},
                         {"rgb": ((1, size, size, 3), "appearance"),
                          "flow": ((1, size, size, 2), "motion")}, xp=xp)


def test_the_pixel_anchor_has_its_closed_form_optimum(xp):
    """max sum_pixels w.x - a |x - x0|^2 / (T H W B^2): x = x0 + w T H W B^2 / (2 a) per pixel."""
    from stviz_core.presets import StreamRegularization

    be = pointwise(xp)
    free = StreamRegularization(lambda_norm=0.0, lambda_tv=0.0)
    preset = sv.presets.paper().replace(appearance=free, motion=free)
    clip = clip_for(be, scale=30.0)
    a = 1e6
    r = sv.ascend(be, sv.channel(0, normalize=False), preset=preset, init=clip, anchor=a,
                  steps=600, learning_rate=sv.optim.Exponential(1.0, 1e-4), jitter=False,
                  objective_scale="paper")
    shift = 8 * 8 * B**2 / (2 * a)
    np.testing.assert_allclose(r.inputs["rgb"], clip["rgb"] + shift * np.array([0.3, -1.0, 0.5]),
                               atol=1e-6)
    np.testing.assert_allclose(r.inputs["flow"], clip["flow"] + shift * np.array([2.0, 0.7]),
                               atol=1e-6)
    assert r.config["anchor"]["weight"] == a and r.config["anchor"]["inputs"] == ["flow", "rgb"]
    d = r.inputs["rgb"] - clip["rgb"]
    assert r.final["rgb/anchor"][0] == pytest.approx(a * (d * d).sum() / (64 * B**2), rel=1e-9)


def test_accentuation_records_both_weights_and_what_it_reached():
    be = linear_two_stream(np)
    clip = clip_for(be)
    r = sv.inversion.accentuate(be, clip, [sv.channel(0), sv.channel(1)], feature_weight=0.5,
                                pixel_weight=2.0, steps=30)
    acc = r.config["accentuation"]
    assert (acc["feature_weight"], acc["pixel_weight"]) == (0.5, 2.0)
    assert acc["objectives"] == ["channel(0)", "channel(1)"]
    assert r.config["objectives"][0].startswith("channel(0) + 0.5 * feature_match(code ")
    assert r.config["anchor"]["weight"] == 2.0 and r.config["init"]["kind"] == "clip"
    assert all(end > start for start, end in zip(acc["unit_clip"], acc["unit_end"]))
    assert all(e > 0 for e in acc["feature_error"])
    np.testing.assert_allclose(acc["feature_error"], -(r.final["objective"] - np.asarray(
        acc["unit_end"]) * np.array([q["scale"] for q in r.config["quality"]])) / 0.5, rtol=1e-9)
    with pytest.raises(ValueError, match="feature_weight and pixel_weight are both 0"):
        sv.inversion.accentuate(be, clip, sv.channel(0), feature_weight=0)
    with pytest.raises(ValueError, match="anchor= keeps the input near the clip the run starts "
                                         "from: give init= a clip"):
        sv.ascend(be, sv.channel(0), anchor=1.0, steps=1, preset="paper")


def test_an_anchored_run_continues_exactly():
    be = linear_two_stream(np)
    clip = clip_for(be)
    options = dict(seed=2, stride=2, anchor=3.0, preset="paper")
    full = sv.ascend(be, sv.channel(0), steps=12, init=clip, **options)
    first = sv.ascend(be, sv.channel(0), steps=6, init=clip, schedule_steps=12, keep_state=True,
                      **options)
    rest = sv.ascend(be, sv.channel(0), steps=6, init=first, stride=2, anchor=3.0, preset="paper")
    assert max_diff(full.inputs, rest.inputs) == 0.0
    with pytest.raises(ValueError, match="anchor= in a continuation needs the clip"):
        sv.ascend(be, sv.channel(0), steps=6, anchor=3.0, init=sv.ascend(
            be, sv.channel(0), steps=2, init=clip, anchor=3.0, preset="paper"), preset="paper")


def test_invert_records_the_feature_error_and_the_correlation(xp):
    be = linear_two_stream(xp)
    clip = clip_for(be, batch=2)
    r = sv.inversion.invert(be, clip, steps=40)
    inv = r.config["inversion"]
    assert inv["layer"] == "linear" and inv["codes"] == 2 and inv["jitter"] is False
    assert r.config["jitter"]["enabled"] is False and len(r) == 2
    np.testing.assert_allclose(inv["feature_error"], sv.inversion.feature_error(
        be, r.inputs, sv.codes.encode(be, clip)), rtol=1e-9)
    assert (np.array(inv["feature_error"]) < 0.5 * -r.trace["objective"][0]).all()
    assert sorted(inv["correlation"]) == ["flow", "rgb"] and len(inv["correlation"]["rgb"]) == 2


# -- the command line on the demo model ------------------------------------------

DEMO = "stviz_adapters.demo.model:load_demo_model"


def test_stviz_invert_on_the_demo_net(demo_video, tmp_path, capsys):
    """Both streams inverted jointly from conv5_fusion, the appearance alone from rgb.conv3."""
    pytest.importorskip("torch")
    from stviz_adapters.cli import main

    out = tmp_path / "inv"
    assert main(["invert", DEMO, str(demo_video), "--layer", "conv5_fusion", "--layer", "rgb.conv3",
                 "--steps", "3", "--regularization", "0.5", "--out", str(out), "--quiet"]) == 0
    said = capsys.readouterr().out
    assert f"stviz invert: 2 layer(s) in {out}" in said
    fusion, rgb = sv.load(out / "invert_conv5_fusion"), sv.load(out / "invert_rgb.conv3")
    assert fusion.config["optimized_inputs"] == ["flow", "rgb"]
    paper = sv.presets.paper().appearance.weights((1, 64, 64, 3))
    assert fusion.config["inputs"]["rgb"]["lambda_tv"] == pytest.approx(0.5 * paper[1], rel=1e-12)
    assert fusion.config["inversion"]["layer"] == "conv5_fusion"
    assert fusion.config["inversion"]["clip"] == str(demo_video)
    assert rgb.config["inversion"]["not_inverted"] == ["flow"]
    with np.load(out / "clip.npz") as clip:
        assert clip["rgb"].shape == (1, 1, 64, 64, 3) and clip["flow"].shape == (1, 10, 64, 64, 2)
    page = (out / "index.html").read_text()
    assert page.count("<div class='pairrow'>") == 2 and "Reconstructions from conv5_fusion" in page
    error = fusion.config["inversion"]["feature_error"][0]
    assert f"conv5_fusion: normalized feature error {error:.4g}" in page
    assert "not inverted: flow (the layer does not see it)" in page
    for side in (0, 1):  # the real clip and the reconstruction, appearance and motion
        assert f"media/pair0_0_{side}_rgb.png" in page and f"media/pair0_0_{side}_flow.gif" in page
    refs = re.findall(r"(?:src|href)='([^']+)'", page)
    assert refs and all((out / ref).is_file() for ref in refs)


def test_stviz_accentuate_on_the_demo_net(demo_video, tmp_path, capsys):
    pytest.importorskip("torch")
    from stviz_adapters.cli import main

    out = tmp_path / "acc"
    assert main(["accentuate", DEMO, str(demo_video), "--layer", "conv5_fusion", "--channels", "3,9",
                 "--steps", "3", "--pixel-weight", "0.5", "--out", str(out), "--quiet"]) == 0
    result = sv.load(out / "accentuate_conv5_fusion")
    acc = result.config["accentuation"]
    assert (acc["feature_weight"], acc["pixel_weight"]) == (1.0, 0.5)
    assert acc["objectives"] == ["channel(3)", "channel(9)"] and len(result) == 2
    assert result.config["init"]["source"] == str(demo_video)
    page = (out / "index.html").read_text()
    assert page.count("<div class='pairrow'>") == 2 and "accentuated channel(9)" in page


def test_a_clip_of_the_wrong_shape_is_one_line_with_the_expected_shape(tmp_path, capsys):
    pytest.importorskip("torch")
    from stviz_adapters.cli import main

    np.savez(tmp_path / "small.npz", rgb=np.zeros((1, 1, 32, 32, 3)), flow=np.zeros((1, 10, 32, 32, 2)))
    assert main(["invert", DEMO, str(tmp_path / "small.npz"), "--layer", "conv5_fusion",
                 "--steps", "1", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert ("clip input 'flow' has shape (1, 10, 32, 32, 2); the model takes (N or 1, 10, 64, 64, 2)"
            in err)


def test_inversion_leaves_out_jitter_and_the_presets_transforms_unless_asked():
    be = linear_two_stream(np)
    clip = clip_for(be)
    r = sv.inversion.invert(be, clip, steps=2, preset=sv.presets.robust())
    assert r.config["jitter"]["enabled"] is False
    assert r.config["transforms"]["scale"] is None and r.config["transforms"]["time_shift"] == 0
    asked = sv.inversion.invert(be, clip, steps=2, preset=sv.presets.robust(), jitter=True,
                                transforms=sv.presets.TRANSFORMS)
    assert asked.config["jitter"]["enabled"] is True
    assert asked.config["transforms"] == dict(sv.presets.TRANSFORMS.to_dict(),
                                              drawn_from=asked.config["transforms"]["drawn_from"])
