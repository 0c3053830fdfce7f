"""The ascent loop end to end on the plain array-API reference backend."""

import numpy as np
import pytest

import stviz_core as sv
from stviz_core import presets
from stviz_core.presets import StreamRegularization
from stviz_core.testing import LinearBackend


W_RGB = np.array([0.3, -1.0, 0.5])
W_FLOW = np.array([2.0, 0.7])
B = 160.0

HARD_BOUND_ONLY = presets.paper().replace(
    appearance=StreamRegularization(lambda_norm=0.0, lambda_tv=0.0),
    motion=StreamRegularization(lambda_norm=0.0, lambda_tv=0.0),
)


def two_stream(xp, k_rgb=None, k_flow=None, size=(5, 4), frames=3):
    """A linear two-stream model: per-pixel dot products, one output channel."""
    h, w = size
    k_rgb = W_RGB.reshape(1, 1, 1, 3, 1) if k_rgb is None else k_rgb
    k_flow = np.repeat(W_FLOW.reshape(1, 1, 1, 2, 1), frames, axis=0) if k_flow is None else k_flow
    kh, kw = k_rgb.shape[1:3]
    return LinearBackend(
        {"rgb": k_rgb, "flow": k_flow},
        {"rgb": ((1, h + kh - 1, w + kw - 1, 3), "appearance"),
         "flow": ((frames, h + kh - 1, w + kw - 1, 2), "motion")},
        xp=xp,
    )


def test_hard_bound_only_converges_to_the_known_optimum(xp):
    """Maximizing sum_pixels w.x under |x_pixel| <= B gives x_pixel = B w / |w| everywhere."""
    be = two_stream(xp)
    r = sv.ascend(be, sv.channel(0, normalize=False), preset=HARD_BOUND_ONLY,
                  steps=300, learning_rate=8.0, seed=0, jitter=False)
    rgb, flow = r.inputs["rgb"], r.inputs["flow"]
    np.testing.assert_allclose(rgb, np.broadcast_to(B * W_RGB / np.linalg.norm(W_RGB), rgb.shape),
                               atol=1e-6 * B)
    np.testing.assert_allclose(flow, np.broadcast_to(B * W_FLOW / np.linalg.norm(W_FLOW), flow.shape),
                               atol=1e-6 * B)
    # and the objective reached its maximum value
    n_pix = 5 * 4
    optimum = B * n_pix * (np.linalg.norm(W_RGB) + 3 * np.linalg.norm(W_FLOW))
    assert r.final["objective"][0] == pytest.approx(optimum, rel=1e-9)


def test_textbook_adam_is_biased_towards_the_sign_direction(xp):
    """Why the kernel shares Adam's second moment per pixel: coordinate-wise Adam under the
    hard bound settles at B sign(w)/|sign(w)|, not at the maximizer B w/|w|."""
    be = two_stream(xp)
    r = sv.ascend(be, sv.channel(0, normalize=False), preset=HARD_BOUND_ONLY, steps=300,
                  learning_rate=8.0, seed=0, jitter=False, moment="coordinate")
    pixel = r.inputs["rgb"][0, 0, 0, 0]
    np.testing.assert_allclose(pixel, B * np.sign(W_RGB) / np.sqrt(3), atol=1e-4 * B)
    assert np.abs(pixel - B * W_RGB / np.linalg.norm(W_RGB)).max() > 0.3 * B


def test_quadratic_penalty_converges_to_the_interior_optimum(xp):
    """With N_B at alpha = 2 and weight lam, max w.x - lam |x|^2 has x = w / (2 lam) inside the bound."""
    lam = 0.01
    stream = StreamRegularization(alpha=2.0, lambda_norm=lam, lambda_tv=0.0, bound=1e4)
    preset = HARD_BOUND_ONLY.replace(appearance=stream, motion=stream, init_scale=1e-3)
    r = sv.ascend(two_stream(xp), sv.channel(0, normalize=False), preset=preset, steps=400,
                  objective_scale="paper",
                  learning_rate=sv.optim.Exponential(4.0, 0.05), seed=1, jitter=False)
    np.testing.assert_allclose(r.inputs["rgb"], np.broadcast_to(W_RGB / (2 * lam), r.inputs["rgb"].shape),
                               atol=1e-3)
    assert (np.diff(r.trace["total"][:, 0])[-50:] > -1e-9).all()  # settled, not oscillating


def test_temporal_slowness_smooths_motion_in_time():
    """A larger gamma must give a flow input with less temporal variation (the paper's Fig. 3)."""
    rng = np.random.default_rng(0)
    k_flow = rng.standard_normal((4, 3, 3, 2, 1))
    k_rgb = rng.standard_normal((1, 3, 3, 3, 1))
    tv_t, objective = [], []
    for gamma in (0.0, 1.0, 10.0):
        be = two_stream(np, k_rgb=k_rgb, k_flow=k_flow, size=(6, 6), frames=4)
        r = sv.ascend(be, sv.channel(0), preset=presets.anisotropic(gamma), steps=150, seed=3,
                      objective_scale="paper")
        tv_t.append(float(np.sum(np.diff(r.inputs["flow"], axis=1) ** 2)))
        objective.append(float(r.final["objective"][0]))
    assert tv_t[0] > tv_t[1] > tv_t[2] and tv_t[2] < 0.2 * tv_t[0]
    assert objective[0] > objective[1] > objective[2]  # smoothness is paid for in activation


def test_regularized_ascent_improves_the_total(xp):
    rng = np.random.default_rng(2)
    be = two_stream(xp, k_rgb=rng.standard_normal((1, 3, 3, 3, 2)),
                    k_flow=rng.standard_normal((3, 3, 3, 2, 2)), size=(4, 4))
    r = sv.ascend(be, [sv.channel(0), sv.channel(1)], steps=60, seed=[0, 1], preset="paper")
    total = r.trace["total"]
    assert total.shape == (60, 2)
    assert (total[-1] > total[0]).all()
    assert (r.final["total"] > total[0]).all()
    for name in ("rgb", "flow"):
        assert np.linalg.norm(r.inputs[name], axis=-1).max() <= B * (1 + 1e-12)


def test_a_batch_equals_separate_runs_with_the_same_seeds(xp):
    rng = np.random.default_rng(4)
    kr, kf = rng.standard_normal((1, 3, 3, 3, 3)), rng.standard_normal((3, 3, 3, 2, 3))
    objectives = [sv.channel(0), sv.channel(2), 0.5 * sv.channel(1) - sv.neuron(0)]
    seeds = [11, 12, 13]
    together = sv.ascend(two_stream(xp, kr, kf, size=(4, 5)), objectives, steps=25, seed=seeds,
                         stride=2, preset="paper")
    for n, (obj, seed) in enumerate(zip(objectives, seeds)):
        alone = sv.ascend(two_stream(xp, kr, kf, size=(4, 5)), [obj], steps=25, seed=seed,
                          stride=2, preset="paper")
        for name in ("rgb", "flow"):
            np.testing.assert_allclose(together.inputs[name][n], alone.inputs[name][0],
                                       rtol=1e-12, atol=1e-10)
        np.testing.assert_allclose(together.trace["total"][:, n], alone.trace["total"][:, 0],
                                   rtol=1e-12)


def test_same_seed_same_bytes_and_different_seed_different_result(tmp_path):
    def run(seed):
        r = sv.ascend(two_stream(np, size=(4, 4)), sv.channel(0), steps=20, seed=seed, stride=2, preset="paper")
        return r, (tmp_path / f"run{seed}-{len(list(tmp_path.iterdir()))}")

    (a, pa), (b, pb), (c, pc) = run(7), run(7), run(8)
    a.save(pa), b.save(pb), c.save(pc)
    for suffix in (".npz", ".json"):
        assert pa.with_suffix(suffix).read_bytes() == pb.with_suffix(suffix).read_bytes()
    assert not np.array_equal(a.inputs["rgb"], c.inputs["rgb"])


def test_jitter_uses_the_backends_stride_and_changes_the_result():
    be = two_stream(np, k_rgb=np.ones((1, 3, 3, 3, 1)), k_flow=np.ones((3, 3, 3, 2, 1)))
    jittered = sv.ascend(be, sv.neuron(0), steps=10, seed=0, preset="paper")
    assert jittered.config["jitter"] == {"enabled": True, "stride": 1, "mode": "roll (wraps around)"}
    assert jittered.config["rho"] == 3
    plain = sv.ascend(be, sv.neuron(0), steps=10, seed=0, jitter=False, preset="paper")
    assert not np.array_equal(jittered.inputs["rgb"], plain.inputs["rgb"])


def test_config_records_everything_needed_to_rerun():
    r = sv.ascend(two_stream(np), [sv.channel(0)], preset=presets.isotropic(5.0), steps=5,
                  seed=3, a_hat=[2.0])
    c = r.config
    assert c["backend"] == "linear-reference" and c["model"] == "LinearBackend"
    assert c["objectives"] == ["channel(0)"] and c["seeds"] == [3] and c["steps"] == 5
    assert c["preset"]["name"] == "paper" and c["a_hat"] == [2.0]
    assert c["learning_rate"] == {"kind": "exponential", "start": 8.0, "end": 0.8}
    assert c["optimizer"]["moment"] == "pixel" and c["dtype"] == "float64"
    lam_b, lam_tv = presets.isotropic(5.0).motion.weights((3, 5, 4, 2))
    assert c["inputs"]["flow"] == {
        "shape": [3, 5, 4, 2], "role": "motion", "bound": 160.0, "alpha": 3.0, "kappa": 5.0,
        "gamma": 5.0, "lambda_norm": lam_b, "lambda_tv": lam_tv,
    }
    assert set(r.trace) == {"objective", "rgb/norm", "rgb/tv", "flow/norm", "flow/tv", "total"}
    np.testing.assert_allclose(
        r.trace["total"],
        r.trace["objective"] - sum(r.trace[k] for k in r.trace if "/" in k), rtol=1e-12)


class BrokenBackend:
    name = "broken"
    xp, dtype, device = np, np.float64, "cpu"

    def __init__(self, mode):
        self.mode = mode
        self.inputs = {"clip": sv.InputSpec((2, 4, 4, 3))}

    def activations(self, inputs):
        x = inputs["clip"]
        if self.mode == "batch":
            return x[:1].sum(axis=(1, 4))[..., None]
        if self.mode == "nan":
            return np.full(x.shape[:1] + (4, 4, 1), np.nan)
        return x.sum(axis=(1, 4))[..., None]

    def vjp(self, cot):
        if self.mode == "grad-shape":
            return {"clip": np.zeros((1, 2, 4, 4, 3))}
        if self.mode == "grad-keys":
            return {"rgb": np.zeros((1, 2, 4, 4, 3))}
        return {"clip": np.broadcast_to(cot[:, None, :, :, :], (cot.shape[0], 2, 4, 4, 3)).copy()}


@pytest.mark.parametrize("mode, error, message", [
    ("batch", ValueError, r"expected batch-first, channels-last \(N=2, ..., K\)"),
    ("grad-shape", ValueError, r"gradient of 'clip' has shape \(1, 2, 4, 4, 3\), expected \(2, 2, 4, 4, 3\)"),
    ("grad-keys", ValueError, r"returned gradients for \['rgb'\], expected \['clip'\]"),
    ("nan", sv.NonFiniteError, r"diverged at step 0: 'objective' of visualization 0 \(channel\(0\)\) is nan"),
])
def test_bad_backends_get_clear_errors(mode, error, message):
    with pytest.raises(error, match=message):
        sv.ascend(BrokenBackend(mode), [sv.channel(0), sv.channel(0)], steps=3, seed=0, preset="paper")


def test_bad_arguments():
    be = two_stream(np)
    with pytest.raises(ValueError, match="2 seeds for 3 objectives"):
        sv.ascend(be, [sv.channel(0)] * 3, seed=[1, 2], steps=2, preset="paper")
    with pytest.raises(TypeError, match="lacks inputs, xp, dtype, device"):
        sv.ascend(object(), sv.channel(0), steps=2, preset="paper")
    with pytest.raises(TypeError, match="preset must be a Preset .* or the name of one"):
        sv.ascend(be, sv.channel(0), preset=3, steps=2)
    with pytest.raises(ValueError, match="unknown preset 'papr'; valid choices: 'paper'"):
        sv.ascend(be, sv.channel(0), preset="papr", steps=2)
    with pytest.raises(TypeError, match="unknown run option 'step' \\(did you mean steps"):
        sv.ascend(be, sv.channel(0), step=2, preset="paper")
    with pytest.raises(TypeError, match="learning_rate must be a number or a schedule"):
        sv.ascend(be, sv.channel(0), learning_rate="fast", steps=2, preset="paper")
    with pytest.raises(ValueError, match="steps must be an integer >= 1"):
        sv.ascend(be, sv.channel(0), steps=0, preset="paper")
    with pytest.raises(TypeError, match="a seed is a non-negative integer"):
        sv.ascend(be, sv.channel(0), seed=-1, steps=2, preset="paper")


def test_float32_runs_stay_float32_and_agree_with_float64(xp):
    rng = np.random.default_rng(6)
    kr, kf = rng.standard_normal((1, 3, 3, 3, 2)), rng.standard_normal((3, 3, 3, 2, 2))
    runs = {}
    for dtype in (xp.float32, xp.float64):
        be = two_stream(xp, kr, kf, size=(6, 6))
        be = LinearBackend({"rgb": kr, "flow": kf}, be.inputs, xp=xp, dtype=dtype)
        runs[dtype] = sv.ascend(be, [sv.channel(0), sv.channel(1)], steps=30, seed=[0, 1], stride=1, preset="paper")
    single, double = runs[xp.float32], runs[xp.float64]
    assert single.inputs["rgb"].dtype == np.float32 and single.config["dtype"] == "float32"
    assert double.inputs["rgb"].dtype == np.float64
    cmp = sv.compare(single, double)
    assert (cmp.correlation["all"] > 0.999).all()
    assert (cmp.final_rel_diff["objective"] < 1e-3).all()


def test_a_nan_gradient_stops_with_the_step_and_unit_and_keeps_the_run_so_far():
    class NanFromStep12(LinearBackend):
        def vjp(self, cotangent):
            grads = super().vjp(cotangent)
            if self.calls > 13:  # call 1 measures the start (stviz_core.quality)
                grads["flow"] = grads["flow"] * np.nan
            return grads

    be = NanFromStep12({"rgb": W_RGB.reshape(1, 1, 1, 3, 1), "flow": np.ones((3, 1, 1, 2, 1))},
                       {"rgb": (1, 4, 4, 3), "flow": (3, 4, 4, 2)}, xp=np)
    with pytest.raises(sv.NonFiniteError, match=r"diverged at step 13: 'objective' of visualization 0 "
                                                r"\(channel\(0\)\) is nan.*inputs of step 9") as info:
        sv.ascend(be, [sv.channel(0), sv.channel(0)], steps=50, seed=[0, 1], preset="paper")
    err = info.value
    assert (err.step, err.item) == (13, 0)
    partial = err.result
    assert partial.trace["total"].shape == (13, 2) and np.isfinite(partial.trace["total"]).all()
    assert all(np.isfinite(v).all() for v in partial.inputs.values())
    assert partial.config["completed"] is False and partial.config["stopped_at_step"] == 13
    assert partial.config["inputs_from_step"] == 9
