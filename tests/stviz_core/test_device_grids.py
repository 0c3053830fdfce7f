"""The transforms' sampling built on the device equals the host tables (the numpy reference).

The reference is the former implementation: per visualization and step, sparse tables built
with numpy (:mod:`stviz_core.resample`'s ``Table`` functions) and gathered; the run now builds
its positions on the device from a few numbers per visualization (issue 27).
"""

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stviz_core.resample import (_SNAP, affine_table, crop_table, frame_table, gather,
                                 retime_table, rotation_scale, snap)
from stviz_core.transforms import Transforms, Warp, WarpPlan, crop_start

from tests.conftest import asarray, host

ALL = Transforms(scale=(0.7, 1.4), rotate=180.0, time_shift=2, speed=(0.6, 1.6), crop=(0.6, 1.0))


def _reference(settings, draws, shape, role, canvas, x, adjoint=False, in_time=True):
    """The host-table warp of every visualization, one at a time (the former Warp)."""
    t, h, w, c = shape
    ct, ch, cw, _ = canvas
    vectors = role == "motion" and c == 2
    out = []
    for i in range(x.shape[0]):
        m = rotation_scale(draws.angle[i], draws.scale[i])
        size = float(draws.crop_size[i])
        bh, bw = max(size * ch, h), max(size * cw, w)
        box = (float(draws.crop_y[i]) * (ch - bh), float(draws.crop_x[i]) * (cw - bw), bh, bw)
        start = crop_start(t, ct, float(draws.phase[i]) if in_time else -1.0, int(draws.part[i]))
        tables = {"frames": frame_table(ct, start, t), "box": crop_table((ch, cw), (h, w), box),
                  "plane": affine_table(h, w, m), "time": retime_table(t, draws.speed[i],
                                                                       draws.shift[i])}
        scale = np.array([w / box[3], h / box[2]])
        speed = draws.speed[i] if t > 1 else 1.0  # a single frame is not retimed
        if t == 1:
            tables["time"] = frame_table(1, 0, 1)
        y = x[i:i + 1]
        if not adjoint:
            y = gather(y.reshape(ct, ch * cw * c), tables["frames"], 0, np)
            y = gather(y.reshape(t, ch * cw, c), tables["box"], 1, np).reshape(1, t, h, w, c)
            y = gather(y.reshape(t, h * w, c), tables["plane"], 1, np).reshape(1, t, h, w, c)
            y = gather(y.reshape(t, h * w * c), tables["time"], 0, np).reshape(1, t, h, w, c)
            if vectors:
                y = (y * scale) @ m.T * speed
        else:
            if vectors:
                y = (y * speed) @ m * scale
            y = gather(y.reshape(t, h * w * c), tables["time"].transpose(), 0, np)
            y = gather(y.reshape(t, h * w, c), tables["plane"].transpose(), 1, np)
            y = gather(y.reshape(t, h * w, c), tables["box"].transpose(), 1, np)
            y = gather(y.reshape(t, ch * cw * c), tables["frames"].transpose(), 0, np)
            y = y.reshape(1, ct, ch, cw, c)
        out.append(y)
    return np.concatenate(out)


def _case(seed, frames, side, role, c):
    shape = (frames, side, side + 2, c)
    canvas = (3 * frames, -(-side * 5 // 3), -(-(side + 2) * 5 // 3), c)  # crops of 0.6 fit
    draws = ALL.draw([np.random.default_rng([seed, i]) for i in range(3)], 2).at(seed % 2)
    rng = np.random.default_rng(seed)
    return shape, canvas, draws, rng.standard_normal((3, *canvas)), rng.standard_normal((3, *shape))


class _FusedLikeTorch:
    """The PyTorch backend's ``resample`` member on a torch CPU tensor."""

    def __init__(self):
        torch = pytest.importorskip("torch")
        from stviz_backends.torch.kernel_hooks import KernelHooks

        self.hooks = type("Hooks", (KernelHooks,), {"torch": torch})()

    def __call__(self, x, at):
        return self.hooks.resample(x, at)


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 2**16), st.integers(1, 4), st.integers(3, 7),
       st.sampled_from([("appearance", 3), ("motion", 2), ("appearance", 1)]))
def test_device_grids_equal_the_host_tables(xp, seed, frames, side, role_channels):
    role, c = role_channels
    shape, canvas, draws, x, g = _case(seed, frames, side, role, c)
    warp = Warp(ALL, draws, shape, role, canvas=canvas)
    np.testing.assert_allclose(host(warp.apply(asarray(xp, x), xp)),
                               _reference(ALL, draws, shape, role, canvas, x), atol=1e-10)
    np.testing.assert_allclose(host(warp.adjoint(asarray(xp, g), xp)),
                               _reference(ALL, draws, shape, role, canvas, g, adjoint=True),
                               atol=1e-10)


@pytest.mark.parametrize("role, c", [("appearance", 3), ("motion", 2)])
def test_the_fused_resampling_equals_the_array_api_version(role, c):
    torch = pytest.importorskip("torch")
    from array_api_compat import torch as xp

    fused = _FusedLikeTorch()
    for seed in range(4):
        shape, canvas, draws, x, g = _case(seed, 4, 9, role, c)
        plain, fast = Warp(ALL, draws, shape, role, canvas=canvas), \
            Warp(ALL, draws, shape, role, canvas=canvas, resample=fused)
        xt, gt = torch.as_tensor(x), torch.as_tensor(g)
        torch.testing.assert_close(fast.apply(xt, xp), plain.apply(xt, xp), rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(fast.adjoint(gt, xp), plain.adjoint(gt, xp), rtol=1e-10,
                                   atol=1e-10)


def test_a_plan_puts_every_steps_numbers_on_the_device_once():
    from types import SimpleNamespace

    shape, canvas = (4, 6, 6, 2), (12, 10, 10, 2)
    draws = ALL.draw([np.random.default_rng(i) for i in range(3)], 5)
    plan = WarpPlan(ALL, draws, {"flow": SimpleNamespace(shape=shape, role="motion")},
                    {"flow": canvas}, xp=np, dtype=np.float64, device="cpu")
    x = np.random.default_rng(0).standard_normal((3, *canvas))
    for step in range(5):
        planned = plan.at(step)["flow"]
        np.testing.assert_array_equal(planned.apply(x, np),
                                      Warp(ALL, draws.at(step), shape, "motion", canvas).apply(x, np))


def test_snap_in_float32_is_the_full_rule(xp):
    """float32 checks only ``|at| < 1e-9`` (elsewhere nothing that close to a sample is off it)."""
    rng = np.random.default_rng(3)
    values = np.concatenate([rng.uniform(-300, 300, 4000), np.round(rng.uniform(-300, 300, 50)),
                             rng.uniform(-1e-8, 1e-8, 100), [0.5, -0.5, 1.5, 1e-9, -1e-9, 2e-10]])
    at = xp.asarray(values.astype(np.float32))
    nearest = xp.round(at)
    full = xp.where(xp.abs(at - nearest) < _SNAP, nearest, at)
    np.testing.assert_array_equal(host(snap(at, xp)), host(full))
    assert snap(at, xp).dtype == xp.float32


def test_the_neighbours_read_in_slices_equal_one_read(xp, monkeypatch):
    import stviz_core._sampling as sampling

    rng = np.random.default_rng(4)
    rows = asarray(xp, rng.standard_normal((2 * 30, 5)))
    index = xp.asarray(rng.integers(0, 30, (2, 7, 4)))
    weight = asarray(xp, rng.random((2, 7, 4)))
    whole = host(sampling._read(rows, index, weight, 30, xp))
    monkeypatch.setattr(sampling, "_READ_ELEMENTS", 3 * 4 * 5)  # slices of 3 rows
    np.testing.assert_allclose(host(sampling._read(rows, index, weight, 30, xp)), whole,
                               rtol=1e-14, atol=1e-14)
    want = sum(host(weight)[:, :, k, None] * host(rows)[np.arange(2)[:, None] * 30
                                                       + host(index)[:, :, k].astype(int)]
               for k in range(4))
    np.testing.assert_allclose(whole, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("role, c", [("appearance", 3), ("motion", 2)])
def test_a_float32_warp_is_the_float64_one_to_float32_rounding(xp, role, c):
    for seed in range(3):
        shape, canvas, draws, x, g = _case(seed, 3, 8, role, c)
        warp, warp32 = (Warp(ALL, draws, shape, role, canvas=canvas) for _ in range(2))
        for method, value in ((Warp.apply, x), (Warp.adjoint, g)):
            want = host(method(warp, asarray(xp, value), xp))
            got = method(warp32, xp.asarray(value.astype(np.float32)), xp)
            assert got.dtype == xp.float32
            np.testing.assert_allclose(host(got), want, rtol=1e-4, atol=1e-4 * np.abs(want).max())


@pytest.mark.parametrize("sources, outputs, a, d", [(9, 6, 1, 5), (7, 7, 3, 2), (12, 4, 2, 3),
                                                    (1, 1, 2, 3)])
def test_two_tap_reads_are_the_hat_matrix_products(xp, sources, outputs, a, d):
    """A crop's read from the hat matrices' nonzero entries, and its gathered adjoint, equal the
    dense products (boxes from the clip's size to the canvas's, at the canvas's ends too)."""
    from stviz_core._sampling import along, hat_matrix, taps, taps_adjoint

    rng = np.random.default_rng(sources * 10 + outputs)
    size = np.array([outputs, sources, rng.uniform(outputs, sources)])[:, None]  # per item
    top = np.array([0.0, 0.0, rng.uniform(0, sources - size[2, 0])])[:, None]
    if sources == 1:
        size, top = np.ones((3, 1)), np.zeros((3, 1))
    size_x, top_x = asarray(xp, size), asarray(xp, top)

    def at(i):
        return snap(top_x + (i + 0.5) * (size_x / outputs) - 0.5, xp)

    positions = at(asarray(xp, np.arange(outputs)))
    x = asarray(xp, rng.standard_normal((3, a, sources, d)))
    g = asarray(xp, rng.standard_normal((3, a, outputs, d)))
    hats = hat_matrix(positions, sources, xp)
    np.testing.assert_allclose(host(taps(x, positions, xp)), host(along(x, hats, 2, xp)),
                               rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(host(taps_adjoint(g, at, size_x / outputs, sources, xp)),
                               host(along(g, hats, 2, xp, adjoint=True)), rtol=1e-13, atol=1e-13)


def test_time_into_and_out_of_pixel_rows_is_the_frames_product(xp):
    from stviz_core._sampling import along, from_rows, time_from_rows, time_to_rows, to_rows

    rng = np.random.default_rng(5)
    x, g = asarray(xp, rng.standard_normal((2, 5, 3, 4, 2))), asarray(xp, rng.standard_normal((2, 3, 3, 4, 2)))
    matrix = asarray(xp, rng.standard_normal((2, 3, 5)))
    np.testing.assert_allclose(host(from_rows(time_to_rows(x, matrix, xp), 3, xp)),
                               host(along(x, matrix, 1, xp)), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(host(time_from_rows(to_rows(g, xp), matrix, xp)),
                               host(along(g, matrix, 1, xp, adjoint=True)), rtol=1e-13, atol=1e-13)
    np.testing.assert_array_equal(host(from_rows(to_rows(x, xp), 5, xp)), host(x))


def test_time_out_of_pixel_rows_with_a_hat_matrix_in_float32(xp):
    """The adjoint (numpy: one multiply-add per nonzero entry) for retiming hat matrices, with
    reads clipped at the ends and whole frames, equals the dense product in float32."""
    from stviz_core._sampling import along, hat_matrix, time_from_rows, to_rows

    rng = np.random.default_rng(6)
    at = np.clip([[0.0, 1.5, 2.25, 4.0], [-1.0, 0.9, 3.2, 7.0], [1.0, 1.0, 2.0, 3.0]], 0.0, 4.0)
    matrix = hat_matrix(xp.asarray(at.astype(np.float32)), 5, xp)
    g = xp.asarray(rng.standard_normal((3, 4, 3, 2, 3)).astype(np.float32))
    got = time_from_rows(to_rows(g, xp), matrix, xp)
    assert got.dtype == xp.float32 and got.shape == (3, 5, 3, 2, 3)
    np.testing.assert_allclose(host(got), host(along(g, matrix, 1, xp, adjoint=True)),
                               rtol=1e-6, atol=1e-6)


def _declines(x, at):
    """A backend's ``resample`` that declines every read (the stage-by-stage path runs)."""
    return None


@pytest.mark.parametrize("settings", [ALL, Transforms(crop=(0.6, 1.0)),
                                      Transforms(scale=(0.7, 1.4), rotate=30.0)])
@pytest.mark.parametrize("grow", [(3, 5 / 3, 5 / 3), (3, 1, 1), (1, 5 / 3, 1), (1, 1, 1)])
@pytest.mark.parametrize("role, c", [("appearance", 3), ("motion", 2)])
def test_the_pixel_rows_path_equals_the_stage_by_stage_one(xp, settings, grow, role, c):
    """Without a fused read every stage runs in pixel rows; the stage-by-stage array-API path
    (what a backend whose read declines gets) gives the same warp and adjoint, for canvases
    larger in time and space, in one of them, or none."""
    shape = (3, 8, 9, c)
    canvas = (*(-(-int(round(n * f * 3)) // 3) for n, f in zip(shape[:3], grow)), c)
    if settings.crop is not None:  # crops no smaller than the clip in this canvas
        smallest = max(shape[1] / canvas[1], shape[2] / canvas[2])
        settings = replace(settings, crop=(min(smallest * 1.01, 1.0), 1.0))
    for seed in range(2):
        draws = settings.draw([np.random.default_rng([seed, i]) for i in range(2)], 2).at(seed)
        rng = np.random.default_rng(seed)
        x, g = rng.standard_normal((2, *canvas)), rng.standard_normal((2, *shape))
        rows = Warp(settings, draws, shape, role, canvas=canvas)
        staged = Warp(settings, draws, shape, role, canvas=canvas, resample=_declines)
        for method, value in ((Warp.apply, x), (Warp.adjoint, g)):
            np.testing.assert_allclose(host(method(rows, asarray(xp, value), xp)),
                                       host(method(staged, asarray(xp, value), xp)), atol=1e-12)
