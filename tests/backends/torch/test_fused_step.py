"""The fused PyTorch step (``fused_step=``, issue 27 item 4): torch.compile of the kernel's
penalties and Adam equals the eager step, compiles once per run, and moves nothing to the host.

The equality tests capture the graphs with ``backend="aot_eager"`` (no code generation: seconds
to compile); one small test compiles with inductor, whose generated loops round differently.
"""

import collections

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch._dynamo.utils import counters  # noqa: E402

import stviz_core as sv  # noqa: E402
from stviz_backends.torch import fused_step  # noqa: E402

from tests.backends.torch.test_torch_backend import small_two_stream  # noqa: E402
from tests.stviz_core.run.test_step_invariants import HOST_METHODS  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_dynamo():
    torch._dynamo.reset()
    counters.clear()
    yield
    torch._dynamo.reset()


def _run(model, fused, preset, steps=5, **options):
    backend_options = {} if fused is None else {"fused_step": fused}
    return sv.visualize(model, "conv5_fusion", channels=[0, 1], steps=steps, seed=[0, 1],
                        preset=sv.presets.get(preset, steps=steps),
                        backend_options=backend_options, **options)


def _assert_same(eager, fused, rtol):
    for k in eager.inputs:  # inputs within the bound (160): atol relative to it
        np.testing.assert_allclose(fused.inputs[k], eager.inputs[k], rtol=rtol, atol=rtol * 160)
    for k in eager.trace:
        scale = np.abs(eager.trace[k]).max()
        np.testing.assert_allclose(fused.trace[k], eager.trace[k], rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("dtype, rtol", [(torch.float64, 1e-12), (torch.float32, 1e-5)])
@pytest.mark.parametrize("preset", ["paper", "canvas"])
def test_the_fused_step_equals_the_eager_step(preset, dtype, rtol):
    model = small_two_stream(dtype)
    eager = _run(model, None, preset)
    fused = _run(model, "aot_eager", preset)
    _assert_same(eager, fused, rtol)
    assert fused.config["backend_details"]["fused_step"] == "aot_eager"
    assert eager.config["backend_details"]["fused_step"] is None
    # the penalties and Adam: two graphs, whole (no graph break), compiled once for the run
    assert counters["stats"]["unique_graphs"] == 2, dict(counters["stats"])
    assert not counters["graph_break"], dict(counters["graph_break"])
    assert not counters["recompiles"], dict(counters["recompiles"])


def test_a_second_run_of_the_same_shapes_compiles_nothing_and_moves_nothing_to_the_host(
        monkeypatch):
    model = small_two_stream(torch.float32)
    _run(model, "aot_eager", "canvas", steps=3)
    graphs = counters["stats"]["unique_graphs"]
    host = [collections.Counter()]
    for name in HOST_METHODS:
        original = getattr(torch.Tensor, name)

        def wrapped(self, *a, _original=original, _name=name, **k):
            host[-1][_name] += 1
            return _original(self, *a, **k)

        monkeypatch.setattr(torch.Tensor, name, wrapped)
    for name in ("asarray", "tensor", "as_tensor", "from_numpy"):  # host arrays to the device
        original = getattr(torch, name)

        def made(*a, _original=original, _name=name, **k):
            host[-1]["torch." + _name] += 1
            return _original(*a, **k)

        monkeypatch.setattr(torch, name, made)
    _run(model, "aot_eager", "canvas", steps=8, check_every=4,
         callback=lambda step, total: host.append(collections.Counter()))
    monkeypatch.undo()
    assert counters["stats"]["unique_graphs"] == graphs
    # host[s] is step s (0: the setup); a check after steps 3 and 7 reads a boolean (is_nonzero,
    # not a Tensor method), the schedule's table went to the device in step 0
    assert all(not host[s] for s in range(1, 7)), host
    assert host[0]["torch.asarray"] >= 1  # the counting sees the kernel's arrays being made


def test_the_fused_step_compiled_by_inductor_stays_within_float32_rounding():
    model = small_two_stream(torch.float32)
    eager = _run(model, None, "paper", steps=3)
    fused = _run(model, True, "paper", steps=3)
    _assert_same(eager, fused, 1e-4)
    assert fused.config["backend_details"]["fused_step"] == "inductor"


def test_fused_step_takes_a_compiler_name_or_a_bool():
    assert fused_step.check_fused_step(False) is None
    assert fused_step.check_fused_step(True) == "inductor"
    assert fused_step.check_fused_step("aot_eager") == "aot_eager"
    with pytest.raises(ValueError, match="unknown fused_step 'cudagraphs'; valid choices: False"):
        sv.visualize(small_two_stream(), "conv5_fusion", channels=[0], steps=1,
                     preset="paper", backend_options={"fused_step": "cudagraphs"})
