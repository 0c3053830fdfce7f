"""The Keras backend traces its compiled functions once per (model, layer, input shapes)."""

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
pytest.importorskip("keras")
pytest.importorskip("tensorflow")

import stviz_core as sv  # noqa: E402

from tests.backends.keras.test_keras_backend import small_two_stream  # noqa: E402


def _traces(result):
    return result.config["backend_details"]["compiled_traces"]


def test_a_second_run_with_the_same_shapes_does_not_retrace():
    model = small_two_stream()
    first = sv.visualize(model, "conv5_fusion", channels=[0, 1], steps=2, preset="fourier")
    # the probe's single visualization and the run's two share one graph each:
    # the forward pass alone and the forward pass with its VJP
    assert _traces(first) == 2
    again = sv.visualize(model, "conv5_fusion", channels=[0, 1], steps=2, preset="fourier")
    more = sv.visualize(model, "conv5_fusion", channels=[2, 3, 4], steps=2, preset="canvas")
    assert _traces(again) == _traces(more) == 2  # another batch size is no new trace either
    other = sv.visualize(model, "rgb.conv4_3", channels=[0], steps=1, preset="paper")
    assert _traces(other) == 2  # a new layer is a new sub-model: traced once itself


def test_threads_are_recorded_even_where_tensorflow_keeps_its_pools():
    result = sv.visualize(small_two_stream(), "conv5_fusion", channels=[0], steps=1,
                          preset="paper", threads=1)
    record = result.config["backend_details"]["threads"]
    assert record["threads"] == 1 and isinstance(record["applied"], bool)
    assert record["applied"] or "runtime had started" in record["note"]
