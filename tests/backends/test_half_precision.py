"""16-bit models (issue #18 item 11): the kernel keeps its state and penalties in float32.

A float16 model used to overflow in the penalties (160^3 in float16 is infinite) and stop with a
NonFiniteError; a bfloat16 PyTorch model crashed converting to numpy. Both backends now give the
kernel float32 arrays and cast at their boundary; the result stays close to the float32 run.
"""

import numpy as np
import pytest

import stviz_core as sv

torch = pytest.importorskip("torch")

from tests.backends.torch.test_torch_backend import small_two_stream  # noqa: E402


def _run(model):
    return sv.visualize(model, "conv5_fusion", channels=[0, 1], steps=20, seed=0,
                        objective_scale="paper", preset="paper")


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_a_16_bit_torch_model_runs_in_float32_state(dtype):
    reference = _run(small_two_stream())
    result = _run(small_two_stream().to(dtype))
    assert result.config["dtype"] == "float32"
    assert result.config["backend_details"]["model_dtype"] == str(dtype).removeprefix("torch.")
    assert all(v.dtype == np.float32 for v in result.inputs.values())
    assert np.isfinite(result.trace["total"]).all()
    np.testing.assert_allclose(result.final["objective"], reference.final["objective"], rtol=0.02)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_a_16_bit_keras_model_runs_in_float32_state(dtype):
    pytest.importorskip("keras")
    from tests.backends.keras.test_keras_backend import small_two_stream as keras_two_stream

    reference = _run(keras_two_stream())
    result = _run(keras_two_stream(dtype))
    assert result.config["backend_details"]["model_dtype"] == dtype
    assert all(v.dtype == np.float32 for v in result.inputs.values())
    assert np.isfinite(result.trace["total"]).all()
    np.testing.assert_allclose(result.final["objective"], reference.final["objective"], rtol=0.05)
