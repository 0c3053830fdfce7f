"""stviz_adapters.video_inputs: the one place where video frames become canonical inputs."""

import numpy as np
import pytest

from stviz_adapters import video_inputs as V


def moving_square(frames=13, size=32, step=1):
    """uint8 RGB frames of a bright square moving ``step`` pixels right per frame."""
    out = np.full((frames, size, size, 3), 40, np.uint8)
    for t in range(frames):
        out[t, 10:20, 4 + step * t:14 + step * t] = 220
    return out


def test_rgb_input_subtracts_the_mean_in_float32():
    frames = moving_square(3)
    x = V.rgb_input(frames)
    assert x.dtype == np.float32 and x.shape == frames.shape
    np.testing.assert_array_equal(x[0, 0, 0], 40 - V.MEAN_RGB)
    np.testing.assert_array_equal(V.rgb_input(frames, 127.5), frames.astype(np.float32) - 127.5)


def test_two_stream_inputs_take_the_central_frames_and_the_scaled_flow():
    pytest.importorskip("cv2")
    frames = moving_square(13)
    rgb, flow = V.two_stream_inputs(frames, 1, 10)
    np.testing.assert_array_equal(rgb, V.rgb_input(frames[6:7]))
    np.testing.assert_array_equal(flow, V.tvl1_flow(frames[1:12]) * V.FLOW_SCALE)
    assert flow.shape == (10, 32, 32, 2)
    inside = flow[:, 12:18, 8:14]  # on the square, which moves one pixel right per frame
    assert inside[..., 0].mean() > 0.5 * V.FLOW_SCALE and abs(inside[..., 1].mean()) < 0.25 * V.FLOW_SCALE
    rgb3, _ = V.two_stream_inputs(frames, 3, 4)
    np.testing.assert_array_equal(rgb3, V.rgb_input(frames[5:8]))
    with pytest.raises(ValueError, match="5 frames: the inputs need 11"):
        V.two_stream_inputs(frames[:5], 1, 10)


def test_the_demo_data_and_the_kinetics_preprocessing_use_these_conventions():
    from stviz_adapters.demo import synthetic_actions as S
    from stviz_adapters.zoo import kinetics_i3d as K

    assert S.MEAN_RGB is V.MEAN_RGB and S.FLOW_SCALE == V.FLOW_SCALE and S.tvl1_flow is V.tvl1_flow
    frames = np.random.default_rng(0).integers(0, 256, (8, 64, 64, 3), dtype=np.uint8)
    np.testing.assert_array_equal(K.preprocess(frames), V.rgb_input(frames, K.INPUT_SCALE))
