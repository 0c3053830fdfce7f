"""Issue 24 items 1-2: the output stage (standardize, squash) and the canvas with its crops.

Exact vector-Jacobian products against finite differences on every namespace, the bound on
every input the network sees at every step, every output frame in the crops equally often,
flow vectors scaled with the crop, the canvas's view and embedding, the non-periodic time
axis, presets that switch it all on, and bad input refused with its domain.
"""

import dataclasses

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import stviz_core as sv
from stviz_core import param, presets
from stviz_core.param._canvas import View, canvas_shape
from stviz_core.param._output import Output, forward, output, output_vjp, projection, projection_vjp
from stviz_core.testing import LinearBackend
from stviz_core.transforms import Transforms, Warp, crop_start

from tests.conftest import asarray, host

OUTPUTS = [Output("radial"), Output("channel"), Output("radial", True, 0.7),
           Output("channel", True, 0.3), Output(None, True, 1.5)]
SHAPINGS = [dict(squash="radial", standardize=True), dict(squash="channel"),
            dict(canvas=(2.0, 1.5)), dict(canvas=(1.5, 1.25), squash="radial", standardize=True),
            dict(canvas=(3.0, 1.0), standardize=True, contrast=2.0)]


def _fields(shape, role, xp, shaping, bound=1.0):
    made = [param.Pixel(**shaping), param.Fourier(alpha=1.3, **shaping),
            param.Maco(rms=0.9, **shaping)]
    return [(p.name, p.bind(shape, role, bound=bound, xp=xp, dtype=xp.float64)) for p in made]


def _directional(f, vjp, p, d):
    """(exact, numeric) directional derivative of the scalar ``f`` at ``p`` along ``d``."""
    eps = 1e-6
    return float(vjp), (f(p + eps * d) - f(p - eps * d)) / (2 * eps)


@given(st.sampled_from(OUTPUTS), st.sampled_from(["appearance", "motion"]), st.integers(0, 2**16))
def test_output_vjp_matches_finite_differences(xp, settings, role, seed):
    rng = np.random.default_rng(seed)
    c = 3 if role == "appearance" else 2
    r = asarray(xp, rng.standard_normal((2, 3, 4, 5, c)) * rng.choice([0.01, 0.5, 3.0]))
    g, d = (asarray(xp, rng.standard_normal((2, 3, 4, 5, c))) for _ in range(2))
    kw = dict(bound=2.0, centre=role == "appearance", xp=xp)

    def f(q):
        return float(xp.sum(output(q, settings, **kw) * g))

    exact, numeric = _directional(f, xp.sum(output_vjp(r, g, settings, **kw) * d), r, d)
    assert exact == pytest.approx(numeric, rel=1e-6, abs=1e-7)


@given(st.sampled_from(OUTPUTS + [None]), st.booleans(), st.integers(0, 2**16))
def test_the_stage_with_the_channels_first_equals_it_with_the_channels_last(xp, settings, centre,
                                                                           seed):
    """The spectral fields run the output stage (and the projection, ``None``) channels first."""
    rng = np.random.default_rng(seed)
    r, g = (rng.standard_normal((2, 3, 4, 5, 3)) * 2.0 for _ in range(2))
    first = [asarray(xp, np.ascontiguousarray(np.moveaxis(a, -1, 1))) for a in (r, g)]
    last = [asarray(xp, a) for a in (r, g)]

    def stage(a, axis):
        if settings is None:
            return projection(a, bound=2.0, xp=xp, axis=axis)
        return forward(a, settings, bound=2.0, centre=centre, xp=xp, axis=axis)

    s_last, s_first = stage(last[0], -1), stage(first[0], 1)
    for a, b in ((s_last.x, s_first.x), (s_last.vjp(last[1]), s_first.vjp(first[1]))):
        np.testing.assert_allclose(np.moveaxis(host(b), 1, -1), host(a), rtol=1e-12, atol=1e-12)
    if settings is None:
        np.testing.assert_allclose(host(s_last.vjp(last[1])),
                                   host(projection_vjp(last[0], last[1], 2.0, xp)), rtol=1e-12)


@pytest.mark.parametrize("shaping", SHAPINGS, ids=str)
def test_field_vjps_match_finite_differences(xp, shaping):
    """Of the canvas (a canvas-shaped cotangent) and of the clip (a clip-shaped one)."""
    rng = np.random.default_rng(0)
    for role, shape in (("appearance", (3, 4, 5, 3)), ("motion", (4, 3, 4, 2))):
        for name, field in _fields(shape, role, xp, shaping):
            p = field.init([np.random.default_rng([1, i]) for i in range(2)], scale=0.8)
            d = asarray(xp, rng.standard_normal(tuple(p.shape)))
            for of, size in ((field.to_canvas, field.canvas_shape), (field.to_input, shape)):
                g = asarray(xp, rng.standard_normal((2, *size)))
                exact, numeric = _directional(lambda q: float(xp.sum(of(q) * g)),
                                              xp.sum(field.vjp(p, g) * d), p, d)
                assert exact == pytest.approx(numeric, rel=1e-6, abs=1e-6), (name, of.__name__)


def test_the_squash_is_smooth_near_zero_and_bounded_far_out():
    """Identity to first order at 0 (its series branch), inside B' < B for any magnitude."""
    for settings in (Output("radial"), Output("channel")):
        tiny = np.full((1, 1, 1, 2, 3), 1e-4)
        np.testing.assert_allclose(output(tiny, settings, bound=1.0, centre=True, xp=np), tiny,
                                   rtol=1e-7)
        huge = np.random.default_rng(0).standard_normal((1, 2, 3, 4, 3)).astype(np.float32) * 1e6
        x = output(huge, settings, bound=160.0, centre=True, xp=np)
        assert np.linalg.norm(x.astype(np.float64), axis=-1).max() <= 160.0


def test_standardize_fixes_the_contrast():
    """Whatever the raw scale, the standardized RMS pixel norm is contrast * B (no squash: the
    projection leaves an RMS of 0.3 B alone); flow keeps its mean, appearance loses it."""
    rng = np.random.default_rng(2)
    for scale in (1e-3, 1.0, 1e3):
        r = rng.standard_normal((1, 4, 6, 6, 3)) * scale + 5 * scale
        x = output(r, Output(None, True, 0.3), bound=10.0, centre=True, xp=np)
        assert np.sqrt(np.mean(np.sum(x**2, -1))) == pytest.approx(3.0, rel=1e-4)  # the 1e-6 B floor
        assert abs(x.mean()) < 1e-9
    flow = rng.standard_normal((1, 4, 6, 6, 2)) + 3.0
    assert output(flow, Output(None, True, 0.3), bound=10.0, centre=False, xp=np).mean() > 0.5


class _Recorder(LinearBackend):
    """A linear unit whose forward pass records every input the network sees."""

    def __init__(self, shapes, seed=0):
        rng = np.random.default_rng(seed)
        weights = {k: rng.standard_normal((*s, 1)) for k, (s, _) in shapes.items()}
        super().__init__(weights, shapes, xp=np)
        self.seen = []

    def activations(self, inputs, *, for_vjp=True):
        self.seen.append({k: np.array(v) for k, v in inputs.items()})
        return super().activations(inputs)


@pytest.mark.parametrize("name", ["robust", "fourier", "maco"])
@pytest.mark.parametrize("shaping", [dict(squash=True, standardize=True),
                                     dict(squash="channel", canvas=(2, 1.5)),
                                     dict(squash=True, canvas=(3, 1.25), contrast=4.0),
                                     dict(standardize=True, contrast=4.0)], ids=str)
def test_the_bound_holds_on_every_input_the_network_sees(name, shaping):
    """Every step's crops (both roles; flow without scale or speed transforms, which stretch
    vectors by design) and the returned clips keep every pixel vector inside B."""
    backend = _Recorder({"rgb": ((4, 8, 8, 3), "appearance"), "flow": ((4, 8, 8, 2), "motion")})
    preset = presets.get(name, **shaping)
    preset = preset.replace(transforms=dataclasses.replace(preset.transforms, scale=None,
                                                           speed=None),
                            learning_rate=presets.Exponential(50.0, 5.0)
                            if name != "maco" else presets.Exponential(2.0, 0.2))
    result = sv.ascend(backend, sv.channel(0, normalize=False), preset=preset, steps=12, seed=[0, 1])
    assert len(backend.seen) >= 12
    for inputs in backend.seen + [result.inputs]:
        for k, v in inputs.items():
            assert v.shape[1:] == backend.inputs[k].shape
            # a squash stays inside B'; the paper's projection (no squash) lands on B, to rounding
            limit = 160.0 if shaping.get("squash") else 160.0 * (1 + 1e-12)
            assert np.linalg.norm(v.astype(np.float64), axis=-1).max() <= limit, k


def _frame_coded(t, h=3, w=3):
    """A canvas ``(1, T', h, w, 1)`` whose frame ``i`` holds the value ``i``."""
    return np.broadcast_to(np.arange(t, dtype=float)[None, :, None, None, None], (1, t, h, w, 1))


@pytest.mark.parametrize("frames, factor, steps", [(8, 3.0, 40), (8, 2.0, 41), (5, 1.5, 7),
                                                   (4, 3.0, 1), (6, 2.5, 33)])
def test_crops_cover_every_output_frame_equally_often(frames, factor, steps):
    """Counted over a run through the warp itself: which canvas frame each crop frame shows."""
    shape = (frames, 3, 3, 1)
    canvas = canvas_shape(shape, (factor, 1.0))
    settings = Transforms(crop=(1.0, 1.0))
    draws = settings.draw([np.random.default_rng([5, i]) for i in range(3)], steps)
    count = np.zeros((3, canvas[0]), dtype=int)
    positions = np.zeros((3, canvas[0], frames), dtype=int)
    for step in range(steps):
        warp = Warp(settings, draws.at(step), shape, "appearance", canvas=canvas)
        for i in range(3):
            shown = warp.apply(np.concatenate([_frame_coded(canvas[0])] * 3), np).astype(int)
            for position, source in enumerate(shown[i, :, 0, 0, 0]):
                count[i, source] += 1
                positions[i, source, position] += 1
    view = View(shape, canvas)
    clip = count[:, view.before[0]:view.before[0] + frames]
    assert (clip == clip[:, :1]).all(), clip
    assert clip[0, 0] > 0
    first = positions[:, view.before[0]]  # where in the network's window the first frame sits
    if view.before[0] >= frames - 1 and steps >= 40:  # every phase allowed: anywhere
        assert ((first > 0).sum(axis=1) >= 3).all(), first
    if view.before[0] == 0:  # no room: the centre only, the first frame always first
        assert (first[:, 1:] == 0).all()


def test_crop_start_tiles_the_clip():
    """A round of phase d takes crops at a - d and a - d + T; phase 0 and -1 the centre."""
    assert crop_start(8, 22, -1.0, 0) == 7 and crop_start(8, 22, 0.0, 1) == 7
    starts = {crop_start(8, 22, (d + 0.5) / 8, part) for d in range(8) for part in (0, 1)}
    assert starts == {7 - d for d in range(8)} | {15 - d for d in range(1, 8)}
    assert {crop_start(8, 12, u, 0) for u in np.linspace(0, 0.99, 9)} == {2}  # no room: centre
    assert {crop_start(8, 16, u, p) for u in (0.1, 0.9) for p in (0, 1)} == {4, 0, 8}


@given(st.integers(1, 4), st.integers(3, 6), st.sampled_from([("appearance", 3), ("motion", 2)]),
       st.integers(0, 2**16))
def test_the_crop_adjoint_is_exact(xp, frames, side, role_channels, seed):
    role, c = role_channels
    shape = (frames, side, side + 1, c)
    canvas = canvas_shape(shape, (2.5, 1.6))
    settings = Transforms(scale=(0.8, 1.2), rotate=20.0, time_shift=1, speed=(0.8, 1.2),
                          crop=(0.7, 1.0))
    draws = settings.draw([np.random.default_rng([seed, i]) for i in range(2)], 3).at(seed % 3)
    warp = Warp(settings, draws, shape, role, canvas=canvas)
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((2, *canvas)), rng.standard_normal((2, *shape))
    lhs = np.sum(host(warp.apply(asarray(xp, x), xp)) * y)
    rhs = np.sum(x * host(warp.adjoint(asarray(xp, y), xp)))
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


def test_flow_vectors_scale_with_the_crop_and_a_whole_pixel_crop_is_exact():
    shape = (2, 8, 8, 2)
    canvas = canvas_shape(shape, (1.0, 1.5))  # 12 x 12
    flow = np.zeros((1, *canvas))
    flow[..., 0], flow[..., 1] = 3.0, -1.5
    settings = Transforms(crop=(1.0, 1.0))  # the whole canvas, shrunk to 8 x 8
    draws = settings.draw([np.random.default_rng(0)], 1).at(0)
    out = Warp(settings, draws, shape, "motion", canvas=canvas).apply(flow, np)
    np.testing.assert_allclose(out[..., 0], 3.0 * 8 / 12)
    np.testing.assert_allclose(out[..., 1], -1.5 * 8 / 12)
    rgb = np.random.default_rng(1).standard_normal((1, *canvas[:3], 3))
    centre = Warp(Transforms(), None, (2, 8, 8, 3), "appearance", canvas=canvas[:3] + (3,))
    np.testing.assert_array_equal(centre.apply(rgb, np), rgb[:, :, 2:10, 2:10])


def test_the_view_and_the_embedding(xp):
    shape = (3, 4, 5, 2)
    canvas = canvas_shape(shape, (2.0, 1.5))
    assert canvas == (6, 6, 8, 2)
    view = View(shape, canvas)
    x = np.random.default_rng(0).standard_normal((2, *shape))
    big = view.embed(asarray(xp, x), xp)
    np.testing.assert_array_equal(host(view(big)), x)
    np.testing.assert_array_equal(host(big)[:, 0, 1:5, 1:6], x[:, 1])  # mirrored about frame 0
    g = np.random.default_rng(1).standard_normal((2, *shape))
    z = np.random.default_rng(2).standard_normal((2, *canvas))
    assert np.sum(host(view(asarray(xp, z))) * g) == pytest.approx(
        np.sum(z * host(view.adjoint(asarray(xp, g), xp))), rel=1e-12)
    for p in (param.Pixel(canvas=(2, 1.5)), param.Fourier(canvas=(2, 1.5))):
        field = p.bind(shape, "motion", bound=10.0, xp=xp, dtype=xp.float64)
        np.testing.assert_allclose(host(field.to_input(field.from_input(asarray(xp, x)))), x,
                                   atol=1e-10)


def test_a_canvas_unties_the_first_frame_from_the_last():
    """A periodic FFT over t makes frame T-1 a neighbour of frame 0; over a longer canvas it is not."""
    shape = (8, 6, 6, 1)

    def corr(p):
        field = p.bind(shape, "appearance", bound=1e6, xp=np, dtype=np.float64)
        x = field.to_input(field.init([np.random.default_rng(i) for i in range(200)], scale=1.0))
        a, b = x[:, 0].ravel(), x[:, -1].ravel()
        return np.corrcoef(a, b)[0, 1]

    assert corr(param.Fourier(alpha=2.0)) > 0.5
    assert corr(param.Fourier(alpha=2.0, canvas=(3.0, 1.0))) < 0.3


def test_presets_switch_it_on_and_leave_the_rest_alone():
    plain = presets.fourier()
    shaped = presets.fourier(canvas=(3, 1.25), squash=True, standardize=True, contrast=0.4)
    p, t = shaped.parameterization, shaped.transforms
    assert (p.canvas, p.squash, p.standardize, p.contrast) == ((3.0, 1.25), "radial", True, 0.4)
    assert t.crop == (0.8, 1.0) and t.time_shift == 0 and t.scale == plain.transforms.scale
    assert presets.from_dict(shaped.to_dict()) == shaped
    assert shaped.appearance.weight == shaped.motion.weight == 0.0  # z-scored: no TV, as MaCo
    assert presets.fourier(squash=True).appearance.weight == plain.appearance.weight
    assert presets.robust(squash="channel").parameterization == param.Pixel(squash="channel")
    assert presets.maco(canvas=(1, 2)).transforms.crop == (0.5, 1.0)
    assert presets.maco(canvas=(1, 2)).transforms.time_shift == 1  # not longer in time
    assert "canvas" not in plain.to_dict()["parameterization"]
    assert "crop" not in plain.to_dict()["transforms"]
    assert param.Fourier(squash=True).takes_init is False and param.Fourier().takes_init


@pytest.mark.parametrize("make, message", [
    (lambda: param.Fourier(canvas=0.5), r"canvas must be \(time, space\) factors .* in \[1, 4\]"),
    (lambda: param.Pixel(canvas=(1, float("nan"))), r"in \[1, 4\]"),
    (lambda: param.Maco(canvas=(1, 2, 3)), r"in \[1, 4\]"),
    (lambda: param.Maco(canvas=5), r"in \[1, 4\]"),
    (lambda: Transforms(crop=(0.0, 1.0)), r"0 < lo <= hi <= 1"),
    (lambda: Transforms(crop=(0.5, 1.2)), r"0 < lo <= hi <= 1"),
    (lambda: Transforms(crop=(float("inf"), 1.0)), r"0 < lo <= hi <= 1"),
    (lambda: param.Fourier(squash="sigmoid"), r"squash must be None, True or one of 'radial'"),
    (lambda: param.Pixel(contrast=0), r"contrast must be a number in \(0, 4\]"),
    (lambda: param.Pixel(contrast=float("nan")), r"contrast must be a number in \(0, 4\]"),
    (lambda: presets.fourier(canvas=(0.9, 1)), r"in \[1, 4\]"),
    (lambda: presets.canvas(crop=(float("nan"), 1.0)), r"0 < lo <= hi <= 1"),
    (lambda: presets.canvas(crop=(0.9, 0.8)), r"0 < lo <= hi <= 1"),
    (lambda: presets.canvas(steps=-5), r"steps must be an integer >= 1"),
    (lambda: presets.canvas(steps=0), r"steps must be an integer >= 1"),
    (lambda: presets.canvas(steps=float("nan")), r"steps must be an integer >= 1"),
    (lambda: presets.canvas(steps=float("inf")), r"steps must be an integer >= 1"),
])
def test_bad_input_names_the_domain(make, message):
    with pytest.raises((ValueError, TypeError), match=message):
        make()


@pytest.mark.parametrize("changes, message", [
    (dict(transforms=Transforms(crop=(0.5, 1.0))),
     r"crop=\(0.5, 1.0\) takes crops of 0.5 x 8 = 4 pixels .* smaller than the clip's 8"),
    (dict(parameterization=param.Fourier(canvas=(1, 1.25)), transforms=Transforms(crop=(0.7, 1))),
     r"here >= 0.8"),
])
def test_crops_smaller_than_the_clip_are_refused_at_planning(changes, message):
    backend = _Recorder({"rgb": ((4, 8, 8, 3), "appearance")})
    with pytest.raises(ValueError, match=message):
        sv.ascend(backend, sv.channel(0), steps=2, preset="paper", **changes)
    assert backend.seen == []  # refused before any forward pass


def test_an_anchor_and_a_start_on_a_canvas():
    """init= embeds the clip in the canvas (its view is the clip); the anchor and the
    regularizers act on the returned clip, the canvas's centre."""
    backend = _Recorder({"rgb": ((2, 6, 6, 3), "appearance")})
    clip = {"rgb": np.random.default_rng(3).uniform(-50, 50, (1, 2, 6, 6, 3))}
    options = dict(steps=1, init=clip, parameterization=param.Fourier(canvas=2), jitter=False, preset="paper",
                   transforms=Transforms(crop=(0.5, 1.0)), learning_rate=1e-9)
    start = sv.ascend(backend, sv.channel(0), **options)
    np.testing.assert_allclose(start.inputs["rgb"][0], clip["rgb"][0], atol=1e-6)
    free = sv.ascend(backend, sv.channel(0), **{**options, "steps": 20, "learning_rate": 20.0})
    held = sv.ascend(backend, sv.channel(0), **{**options, "steps": 20, "learning_rate": 20.0},
                     anchor=100.0)
    distance = {k: np.abs(r.inputs["rgb"] - clip["rgb"]).mean() for k, r in
                (("free", free), ("held", held))}
    assert distance["held"] < 0.5 * distance["free"]
    assert held.trace["rgb/anchor"].shape == (20, 1)


def test_two_streams_crop_the_same_box_and_keep_their_frames_aligned():
    """A single appearance frame and a flow stack: the same box in both (flow vectors scaled),
    and the flow's crops keep its centre frames (moving them would shift it against the frame)."""
    from types import SimpleNamespace

    from stviz_core.transforms import step_warps

    specs = {"rgb": SimpleNamespace(shape=(1, 8, 8, 3), role="appearance"),
             "flow": SimpleNamespace(shape=(6, 8, 8, 2), role="motion")}
    shapes = {k: canvas_shape(s.shape, (3.0, 1.5)) for k, s in specs.items()}
    assert shapes["rgb"][0] == 1 and shapes["flow"][0] == 18
    settings = Transforms(crop=(0.7, 1.0))
    draws = settings.draw([np.random.default_rng(9)], 6)
    ys = np.arange(12, dtype=float)[None, None, :, None, None]
    for step in range(6):
        x = {"rgb": np.broadcast_to(ys, (1, 1, 12, 12, 3)).copy(),
             "flow": _frame_coded(18, 12, 12) + np.zeros((1, 18, 12, 12, 2))}
        x["flow"][..., 1] = ys[..., 0]
        warps = step_warps(settings, draws.at(step), specs, x)
        rgb, flow = (warps[k].apply(x[k], np) for k in ("rgb", "flow"))
        frames = np.unique(np.round(flow[0, :, :, :, 0] / warps["flow"].crops[0][2][0], 6))
        np.testing.assert_allclose(frames, np.arange(6, 12))  # the centre frames, unmoved
        box_scale = warps["flow"].crops[0][2][1]
        np.testing.assert_allclose(flow[0, 0, :, :, 1] / box_scale, rgb[0, 0, :, :, 0], atol=1e-9)


def test_a_canvas_run_continues_bit_for_bit():
    """The canvas's parameters are kept (Result.state), the crops drawn for the whole plan."""
    backend = _Recorder({"rgb": ((4, 8, 8, 3), "appearance")})
    preset = presets.fourier(canvas=(3, 1.25), squash=True, standardize=True)
    whole = sv.ascend(backend, sv.channel(0), preset=preset, steps=9, seed=[0, 1])
    first = sv.ascend(backend, sv.channel(0), preset=preset, steps=4, seed=[0, 1],
                      schedule_steps=9, keep_state=True)
    rest = sv.ascend(backend, sv.channel(0), preset=preset, steps=5, init=first, keep_state=True)
    np.testing.assert_array_equal(rest.inputs["rgb"], whole.inputs["rgb"])


def test_a_z_scored_field_refuses_a_start_with_its_reason():
    backend = _Recorder({"rgb": ((2, 4, 4, 3), "appearance")})
    with pytest.raises(ValueError, match="z-scored or squashed .* no inverse"):
        sv.ascend(backend, sv.channel(0), steps=1, init={"rgb": np.zeros((1, 2, 4, 4, 3))},
                  parameterization=param.Fourier(standardize=True), preset="paper")


def test_the_crop_numbers_come_after_the_others():
    """A run with crops draws the same scales, angles, shifts and speeds as one without."""
    plain = Transforms(scale=(0.8, 1.2), rotate=15.0, time_shift=2, speed=(0.9, 1.1))
    cropped = dataclasses.replace(plain, crop=(0.6, 1.0))
    a, b = (t.draw([np.random.default_rng([4, i]) for i in range(3)], 17) for t in (plain, cropped))
    for name in ("scale", "angle", "shift", "speed"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    u = np.random.default_rng([4, 0]).random((4, 17))
    np.testing.assert_array_equal(a.angle[:, 0], -15.0 + 30.0 * u[1])
    assert ((0.6 <= b.crop_size) & (b.crop_size <= 1.0)).all() and (b.phase[-1] == -1).all()
