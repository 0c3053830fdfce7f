"""With transforms on, a step still dispatches the same operations for 1 and 16 visualizations
and makes no host transfer between checks (issue 27): the resampling positions are made on the
device from numbers that went there once, before step 0."""


import pytest

torch = pytest.importorskip("torch")

import stviz_core as sv  # noqa: E402

from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

from tests.backends.torch.test_torch_backend import small_two_stream  # noqa: E402
from tests.stviz_core.run.test_step_invariants import (_computing, _counted_run,  # noqa: E402
                                                       _transfers)

#: the canvas preset has every transform: crops of a canvas, scale, rotation, frame shift, speed
PRESETS = {"canvas": lambda: sv.presets.get("canvas", steps=12)}


def _counted(monkeypatch, preset, n):
    return _counted_run(monkeypatch, n, steps=8, check_every=4, preset=PRESETS[preset]())


@pytest.fixture(scope="module", params=sorted(PRESETS))
def counted(request):
    mp = pytest.MonkeyPatch()
    runs = {n: _counted(mp, request.param, n) for n in (1, 16)}
    mp.undo()
    return request.param, runs


def test_transformed_steps_dispatch_the_same_operations_for_1_and_16(counted):
    preset, runs = counted
    (_, one), (_, many) = runs[1], runs[16]
    for step in range(1, 7):
        assert _computing(many[step]) == _computing(one[step]), (preset, step,
                                                                 many[step] - one[step])
    assert one[2]["grid_sampler_2d"] >= 1  # the backend's fused resampling


def test_no_host_transfer_inside_a_transformed_step(counted):
    preset, runs = counted
    for n, (result, steps) in runs.items():
        for step in range(1, 7):
            moved = _transfers(steps[step])
            if (step + 1) % 4 == 0:  # the check's one boolean
                assert sum(moved.values()) == 1 and not any(k.startswith("host:") for k in moved)
            else:
                assert not moved, (preset, n, step, moved)
        assert result.config["preset"]["transforms"]


class _Dtypes(TorchDispatchMode):
    """The dtypes of every floating or complex array the steps make (the callback opens a step)."""

    def __init__(self):
        super().__init__()
        self.steps = [set()]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for value in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(value, torch.Tensor) and (value.is_floating_point() or value.is_complex()):
                self.steps[-1].add(value.dtype)
        return out


def test_a_float32_step_computes_in_float32_ffts_included():
    mode = _Dtypes()
    with mode:
        sv.visualize(small_two_stream(torch.float32), "conv5_fusion", channels=[0, 1], steps=4,
                     seed=[0, 1], preset=PRESETS["canvas"](),
                     callback=lambda s, t: mode.steps.append(set()))
    for step in (1, 2):
        assert mode.steps[step] <= {torch.float32, torch.complex64}, mode.steps[step]
        assert torch.complex64 in mode.steps[step]  # the canvas's spectrum
