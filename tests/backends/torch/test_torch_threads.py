"""The PyTorch backend applies the thread policy once per change and records it."""

import pytest

torch = pytest.importorskip("torch")

import stviz_core as sv  # noqa: E402

from tests.backends.torch.test_torch_backend import small_two_stream  # noqa: E402


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_threads_are_applied_once_and_recorded(monkeypatch, restore_threads):
    calls = []
    original = torch.set_num_threads
    monkeypatch.setattr(torch, "set_num_threads", lambda n: (calls.append(n), original(n)))
    original(2)
    model = small_two_stream(torch.float64)
    runs = [sv.visualize(model, "conv5_fusion", channels=[0], steps=1, preset="paper", threads=1)
            for _ in range(2)]
    # once per run, before its first step; the run's end gives torch its threads back
    assert calls == [1, 2, 1, 2] and torch.get_num_threads() == 2
    with sv.select_plugin(model).create(model, layer="conv5_fusion") as backend:
        sv.ascend(backend, sv.channel(0), steps=1, preset="paper", threads=1)
        sv.ascend(backend, sv.channel(0), steps=1, preset="paper", threads=1)
        assert torch.get_num_threads() == 1
    assert calls[4:] == [1, 2]  # a backend open for two runs applies them once
    for result in runs:
        record = result.config["backend_details"]["threads"]
        assert record["threads"] == 1 and record["applied"] and record["changed"]
        assert record["reason"] == "threads= of the run" and "policy" in record["wait_policy"]


def test_a_small_model_runs_on_one_thread_by_default(monkeypatch, restore_threads):
    monkeypatch.delenv("STVIZ_THREADS", raising=False)
    result = sv.visualize(small_two_stream(torch.float64), "conv5_fusion", channels=[0, 1],
                          steps=1, preset="paper")
    details = result.config["backend_details"]
    assert 0 < details["step_flops"] < 2e9
    assert details["threads"]["threads"] == 1 and "small step" in details["threads"]["reason"]
