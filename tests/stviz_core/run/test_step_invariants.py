"""The ascent step's cost does not grow with the batch, and it never waits for the device.

Counted on CPU with a ``TorchDispatchMode`` (every ATen operation the step
dispatches) and with the tensor methods through which data reaches the host
wrapped: the number of operations per step is the same for 1 and for 16
visualizations (jitter, objective and penalties batched: no per-item loop),
and a step makes no device-to-host (or host-to-device) transfer, except the one
boolean of the non-finite check every ``check_every`` steps.
"""

import collections

import pytest

torch = pytest.importorskip("torch")
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

import stviz_core as sv  # noqa: E402

from tests.backends.torch.test_torch_backend import small_two_stream  # noqa: E402

#: operations that bring a value to the host or copy a host array to the device
TRANSFERS = {"_local_scalar_dense", "is_nonzero", "item", "lift_fresh", "lift_fresh_copy", "tolist"}
HOST_METHODS = ("__dlpack__", "numpy", "__array__", "tolist", "item", "cpu")


class _Counter(TorchDispatchMode):
    """Counts dispatched operations, one Counter per step (the callback opens the next)."""

    def __init__(self):
        super().__init__()
        self.steps = [collections.Counter()]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.steps[-1][func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def _counted_run(monkeypatch, n, steps=12, check_every=5, preset=None):
    model = small_two_stream(torch.float64)
    mode = _Counter()
    for name in HOST_METHODS:
        original = getattr(torch.Tensor, name)

        def wrapped(self, *a, _original=original, _name=name, **k):
            mode.steps[-1]["host:" + _name] += 1
            return _original(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, wrapped)

    def callback(step, total):
        mode.steps.append(collections.Counter())

    with mode:
        result = sv.visualize(model, "conv5_fusion", channels=list(range(n)), steps=steps,
                              seed=list(range(n)), preset=preset or sv.presets.paper(),
                              callback=callback,
                              check_every=check_every)
    monkeypatch.undo()
    # mode.steps[s] holds step s's operations for 1 <= s < steps (0 has the setup, the last the end)
    return result, mode.steps


def _transfers(counter):
    return {k: v for k, v in counter.items() if k in TRANSFERS or k.startswith("host:")}


@pytest.fixture(scope="module")
def counted():
    mp = pytest.MonkeyPatch()
    runs = {n: _counted_run(mp, n) for n in (1, 16)}
    mp.undo()
    return runs


#: operations on strides only, and the copy a reshape makes of an array that is not contiguous:
#: torch counts a size-1 batch axis as contiguous whatever its stride, so N = 1 can skip one copy
LAYOUT = {"view", "_unsafe_view", "clone", "expand", "unsqueeze", "squeeze", "slice", "select",
          "permute", "detach", "alias"}


def _computing(counter):
    return collections.Counter({k: v for k, v in counter.items() if k not in LAYOUT})


def test_operations_per_step_do_not_grow_with_the_batch(counted):
    (_, one), (_, many) = counted[1], counted[16]
    for step in range(1, 11):
        assert _computing(many[step]) == _computing(one[step]), (step, many[step] - one[step])
        assert abs(sum(many[step].values()) - sum(one[step].values())) <= 2
    # jitter is one row gather per input and direction, never a roll per visualization
    assert one[2]["index_select"] == many[2]["index_select"] == 4
    assert many[2]["roll"] == 0 and many[2]["cat"] == one[2]["cat"]


def test_no_transfer_between_checks_and_one_boolean_at_a_check(counted):
    for n, (result, steps) in counted.items():
        checks = {s for s in range(1, 11) if (s + 1) % 5 == 0}
        for step in range(1, 11):
            moved = _transfers(steps[step])
            if step in checks:
                assert sum(v for k, v in moved.items() if not k.startswith("host:")) == 1, (n, step, moved)
                assert not any(k.startswith("host:") for k in moved), (n, step, moved)
            else:
                assert not moved, (n, step, moved)
        assert result.trace["objective"].shape == (12, n)


def test_batched_steps_match_single_runs():
    """The batched jitter and objective give visualization n exactly what a run of it alone gets."""
    model = small_two_stream(torch.float64)
    both = sv.visualize(model, "conv5_fusion", channels=[1, 3], steps=6, seed=[4, 7], preset="paper")
    alone = sv.visualize(model, "conv5_fusion", channels=[3], steps=6, seed=7, preset="paper")
    for k in both.inputs:
        torch.testing.assert_close(torch.as_tensor(both.inputs[k][1]), torch.as_tensor(alone.inputs[k][0]),
                                   rtol=1e-9, atol=1e-11)
