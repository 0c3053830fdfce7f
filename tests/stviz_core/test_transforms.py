"""Transforms: exact adjoints, flow transformed as motion, reproducible draws, bad ranges refused."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from stviz_core.resample import Table, affine_table, retime_table, rotation_scale
from stviz_core.transforms import Draws, Transforms, Warp

from tests.conftest import asarray, host

ALL = Transforms(scale=(0.7, 1.4), rotate=180.0, time_shift=2, speed=(0.6, 1.6))


def _draws(scale, angle, shift=0.0, speed=1.0, n=1):
    return Draws(*(np.full(n, v, dtype=float) for v in (scale, angle, shift, speed)))


def _warp(x, draws, role, settings=ALL, xp=np):
    return host(Warp(settings, draws, x.shape[1:], role).apply(asarray(xp, x), xp))


@given(st.tuples(st.integers(1, 5), st.integers(1, 7), st.integers(1, 7)),
       st.sampled_from([("appearance", 3), ("motion", 2), ("appearance", 1)]),
       st.integers(0, 2**16))
def test_adjoint_is_exact(xp, size, role_channels, seed):
    """<T x, y> = <x, T^T y> for random scales, rotations, shifts and speeds."""
    role, c = role_channels
    rng = np.random.default_rng(seed)
    draws = ALL.draw([np.random.default_rng([seed, i]) for i in range(2)], 1).at(0)
    warp = Warp(ALL, draws, (*size, c), role)
    x, y = (rng.standard_normal((2, *size, c)) for _ in range(2))
    lhs = np.sum(host(warp.apply(asarray(xp, x), xp)) * y)
    rhs = np.sum(x * host(warp.adjoint(asarray(xp, y), xp)))
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


def test_rotating_a_flow_clip_by_90_degrees_rotates_its_vectors():
    """Content turns with the frame (x right, y down) and each (u, v) turns with it: (u, v) -> (-v, u)."""
    rng = np.random.default_rng(0)
    clip = rng.standard_normal((1, 3, 6, 6, 2))
    out = _warp(clip, _draws(1.0, 90.0), "motion")
    turned = np.rot90(clip, k=-1, axes=(2, 3))
    expected = np.stack([-turned[..., 1], turned[..., 0]], axis=-1)
    np.testing.assert_allclose(out, expected, atol=1e-12)
    # a rightward flow becomes a downward one, where the content moved
    right = np.zeros((1, 1, 6, 6, 2))
    right[..., 0] = 1.0
    np.testing.assert_allclose(_warp(right, _draws(1.0, 90.0), "motion")[0, 0, 2, 2], [0.0, 1.0],
                               atol=1e-12)
    # appearance turns its content only
    rgb = rng.standard_normal((1, 1, 6, 6, 3))
    np.testing.assert_allclose(_warp(rgb, _draws(1.0, 90.0), "appearance"),
                               np.rot90(rgb, k=-1, axes=(2, 3)), atol=1e-12)


def test_scaling_space_and_speed_scale_flow_vectors():
    flow = np.zeros((1, 5, 9, 9, 2))
    flow[..., 0], flow[..., 1] = 1.0, -0.5
    out = _warp(flow, _draws(1.25, 0.0, speed=1.5), "motion")
    np.testing.assert_allclose(out[0, :, 4, 4], np.broadcast_to([1.25 * 1.5, -0.5 * 1.25 * 1.5], (5, 2)))
    rgb = np.ones((1, 5, 9, 9, 3))
    np.testing.assert_allclose(_warp(rgb, _draws(1.25, 0.0, speed=1.5), "appearance")[0, :, 4, 4], 1.0)


def test_retiming_plays_faster_and_holds_the_end_frames():
    clip = np.arange(7.0)[None, :, None, None, None] * np.ones((1, 7, 2, 2, 1))
    fast = _warp(clip, _draws(1.0, 0.0, speed=1.5), "appearance")[0, :, 0, 0, 0]
    np.testing.assert_allclose(fast, np.clip(1.5 * (np.arange(7) - 3) + 3, 0, 6))
    shifted = _warp(clip, _draws(1.0, 0.0, shift=2.0), "appearance")[0, :, 0, 0, 0]
    np.testing.assert_allclose(shifted, [2, 3, 4, 5, 6, 6, 6])
    single = np.ones((1, 1, 3, 3, 2))  # one frame: nothing to retime, vectors left alone
    np.testing.assert_array_equal(_warp(single, _draws(1.0, 0.0, shift=1, speed=1.5), "motion"), single)


def test_the_identity_changes_nothing(xp):
    x = np.random.default_rng(1).standard_normal((2, 4, 5, 6, 2))
    np.testing.assert_allclose(_warp(x, _draws(1.0, 0.0, n=2), "motion", xp=xp), x, atol=1e-15)


def test_reads_outside_the_frame_are_zero():
    x = np.ones((1, 1, 8, 8, 1))
    small = _warp(x, _draws(0.5, 0.0), "appearance")[0, 0, :, :, 0]
    assert small[0, 0] == 0.0 and small[4, 4] == 1.0


def test_tables_transpose_to_the_dense_adjoint():
    for table in (affine_table(4, 5, rotation_scale(33.0, 1.3)), retime_table(6, 0.7, 1.4)):
        dense = np.zeros((table.index.shape[0], table.sources))
        np.add.at(dense, (np.arange(table.index.shape[0])[:, None], table.index), table.weight)
        t = table.transpose()
        dense_t = np.zeros((t.index.shape[0], t.sources))
        np.add.at(dense_t, (np.arange(t.index.shape[0])[:, None], t.index), t.weight)
        np.testing.assert_allclose(dense_t, dense.T, atol=1e-15)
    assert Table(np.zeros((2, 1), int), np.zeros((2, 1)), 3).transpose().index.shape == (3, 1)


def test_draws_are_reproducible_in_range_and_independent_per_kind():
    rngs = lambda: [np.random.default_rng(s) for s in (4, 5)]  # noqa: E731
    a, b = ALL.draw(rngs(), 500), ALL.draw(rngs(), 500)
    for k in ("scale", "angle", "shift", "speed"):
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k))
        assert getattr(a, k).shape == (500, 2)
    assert 0.7 <= a.scale.min() and a.scale.max() <= 1.4
    assert -180 <= a.angle.min() and a.angle.max() <= 180
    assert set(np.unique(a.shift)) == {-2, -1, 0, 1, 2}
    assert 0.6 <= a.speed.min() and a.speed.max() <= 1.6
    scale_only = Transforms(scale=(0.7, 1.4)).draw(rngs(), 500)
    np.testing.assert_array_equal(scale_only.scale, a.scale)
    assert not scale_only.angle.any() and not scale_only.shift.any() and (scale_only.speed == 1).all()


def test_settings_round_trip_and_flags():
    assert not Transforms().active
    assert Transforms(rotate=5).rotate == (-5.0, 5.0)
    assert Transforms(time_shift=1).temporal and not Transforms(time_shift=1).spatial
    assert Transforms.from_dict(ALL.to_dict()) == ALL and Transforms.from_dict(None) == Transforms()


@pytest.mark.parametrize("kwargs, message", [
    ({"scale": (1.2, 0.9)}, r"scale must be a range \(lo, hi\) with 0 < lo <= hi"),
    ({"scale": (0.0, 1.0)}, r"scale must be a range \(lo, hi\) with 0 < lo <= hi"),
    ({"scale": 1.1}, r"scale must be a range"),
    ({"speed": (-1.0, 1.0)}, r"speed must be a range \(lo, hi\) with 0 < lo <= hi"),
    ({"rotate": (-200.0, 10.0)}, r"rotate must be a range \(lo, hi\) with -180 <= lo <= hi <= 180"),
    ({"rotate": 181}, r"rotate must be a range"),
    ({"time_shift": -1}, r"time_shift must be an integer >= 0"),
])
def test_bad_ranges_are_refused_with_their_domain(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Transforms(**kwargs)
