"""Layouts: canonical (N, T, H, W, C) to and from the model's arguments."""

import numpy as np
import pytest

from stviz_core.layouts import Clip3D, Image2D, StackedFlow2D, TwoStream2D, from_model, to_model

from tests.conftest import asarray, host


def test_two_stream_layout_stacks_flow_as_u1_v1_u2_v2(xp):
    rng = np.random.default_rng(0)
    rgb, flow = rng.standard_normal((2, 1, 4, 5, 3)), rng.standard_normal((2, 3, 4, 5, 2))
    layout = TwoStream2D()
    a, f = to_model(layout, {"rgb": asarray(xp, rgb), "flow": asarray(xp, flow)}, xp)
    a, f = host(a), host(f)
    assert a.shape == (2, 3, 4, 5) and f.shape == (2, 6, 4, 5)
    np.testing.assert_array_equal(a, rgb[:, 0].transpose(0, 3, 1, 2))
    for t in range(3):
        np.testing.assert_array_equal(f[:, 2 * t], flow[:, t, ..., 0])      # u_t
        np.testing.assert_array_equal(f[:, 2 * t + 1], flow[:, t, ..., 1])  # v_t
    back = from_model(layout, (asarray(xp, a), asarray(xp, f)), xp)
    np.testing.assert_array_equal(host(back["rgb"]), rgb)
    np.testing.assert_array_equal(host(back["flow"]), flow)


@pytest.mark.parametrize("layout, shape, model_shape", [
    (Clip3D(), (2, 4, 5, 6, 3), (2, 3, 4, 5, 6)),
    (Clip3D(channels_first=False), (2, 4, 5, 6, 3), (2, 4, 5, 6, 3)),
    (Image2D(), (2, 1, 5, 6, 3), (2, 3, 5, 6)),
    (StackedFlow2D(channels_first=False), (2, 4, 5, 6, 2), (2, 5, 6, 8)),
])
def test_round_trips(xp, layout, shape, model_shape):
    x = np.random.default_rng(1).standard_normal(shape)
    (args,) = to_model(layout, {layout.names[0]: asarray(xp, x)}, xp)
    assert tuple(args.shape) == model_shape
    np.testing.assert_array_equal(host(from_model(layout, (args,), xp)[layout.names[0]]), x)


def test_layout_checks_the_inputs():
    layout = TwoStream2D()
    specs = layout.specs({"rgb": (1, 8, 8, 3), "flow": (10, 8, 8, 2)})
    assert specs["flow"].role == "motion" and specs["rgb"].role == "appearance"
    assert layout.describe(specs) == "rgb (N, 3, 8, 8), flow (N, 20, 8, 8)"
    with pytest.raises(ValueError, match=r"expects inputs \['rgb', 'flow'\], got \['clip'\]"):
        layout.specs({"clip": (1, 8, 8, 3)})
    with pytest.raises(ValueError, match=r"single image: its canonical shape is \(1, H, W, C\)"):
        layout.specs({"rgb": (2, 8, 8, 3), "flow": (10, 8, 8, 2)})
    with pytest.raises(ValueError, match=r"stacked optical flow.*\(L, H, W, 2\)"):
        layout.specs({"rgb": (1, 8, 8, 3), "flow": (10, 8, 8, 3)})
