"""The ascent with parameterizations, transforms and diversity: the bound after every step,
the default unchanged, the same numbers in every backend, recorded in the config."""

import numpy as np
import pytest

import stviz_core as sv
from stviz_core import presets
from stviz_core.run import loop
from stviz_core.testing import LinearBackend
from stviz_core.transforms import Transforms

B = 160.0
PARAMETERIZATIONS = ("pixel", "fourier", "maco")


class Recording(LinearBackend):
    """A LinearBackend that keeps the largest pixel-vector norm of every input it is shown."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.seen = []

    def activations(self, inputs, *, for_vjp=True):
        self.seen.append({k: float(np.max(np.linalg.norm(np.asarray(v), axis=-1)))
                          for k, v in inputs.items()})
        return super().activations(inputs)


def two_stream(xp=np, cls=LinearBackend):
    rng = np.random.default_rng(0)
    return cls({"rgb": rng.standard_normal((1, 3, 3, 3, 2)),
                "flow": rng.standard_normal((3, 3, 3, 2, 2))},
               {"rgb": ((1, 9, 8, 3), "appearance"), "flow": ((3, 9, 8, 2), "motion")}, xp=xp)


def _big_steps(name):
    """A preset whose steps push far past the bound, so the bound has work to do."""
    p = presets.get(name)
    return p.replace(learning_rate=sv.optim.Constant(1.0 if name == "maco" else 60.0))


@pytest.mark.parametrize("parameterization", PARAMETERIZATIONS)
def test_the_network_sees_inputs_inside_the_bound_at_every_step(parameterization):
    be = two_stream(cls=Recording)
    preset = _big_steps({"pixel": "paper"}.get(parameterization, parameterization))
    r = sv.ascend(be, sv.channel(0), preset=preset.replace(transforms=Transforms()), steps=25,
                  seed=[0, 1], stride=2, parameterization=parameterization)
    assert len(be.seen) == 28  # 25 steps, the final evaluation, the quality at start and end
    assert max(max(s.values()) for s in be.seen) <= B * (1 + 1e-12)
    assert max(max(s.values()) for s in be.seen[5:]) > 0.9 * B  # the bound was reached
    assert max(np.linalg.norm(v, axis=-1).max() for v in r.inputs.values()) <= B * (1 + 1e-12)


@pytest.mark.parametrize("name", presets.names())
def test_every_preset_keeps_the_bound_after_every_step(name, monkeypatch):
    """After each Adam step (transforms on: they move the input the network sees, not the bound)."""
    norms = []
    step = loop.adam_step

    def recording(*args, **kwargs):
        params, x, state = step(*args, **kwargs)
        norms.append(max(float(np.linalg.norm(v, axis=-1).max()) for v in x.values()))
        return params, x, state

    monkeypatch.setattr(loop, "adam_step", recording)
    sv.ascend(two_stream(), sv.channel(0), preset=_big_steps(name), steps=20, seed=3)
    assert len(norms) == 20 and max(norms) <= B * (1 + 1e-12)


def test_appearance_transforms_never_leave_the_bound():
    rng = np.random.default_rng(1)
    be = Recording({"clip": rng.standard_normal((2, 3, 3, 3, 1))},
                   {"clip": ((5, 10, 10, 3), "appearance")}, xp=np)
    sv.ascend(be, sv.channel(0), preset=_big_steps("fourier"), steps=15, seed=[0, 1])
    assert max(s["clip"] for s in be.seen) <= B * (1 + 1e-12)


def test_the_default_is_pixels_with_jitter_only(xp):
    be = two_stream(xp)
    a = sv.ascend(be, sv.channel(0), steps=12, seed=[0, 5], stride=2, preset="paper")
    b = sv.ascend(be, sv.channel(0), steps=12, seed=[0, 5], stride=2, parameterization="pixel",
                  transforms=Transforms(), diversity=0.0, moment="pixel", preset="paper")
    for k in a.inputs:
        assert np.array_equal(a.inputs[k], b.inputs[k])
    for k in a.trace:
        assert np.array_equal(a.trace[k], b.trace[k])
    assert a.config["parameterization"] == {"name": "pixel"}
    assert a.config["optimizer"]["moment"] == "pixel" and not any(a.config["transforms"][k]
                                                                 for k in ("scale", "rotate", "speed"))


@pytest.mark.parametrize("name", ["robust", "fourier", "maco"])
def test_every_backend_gets_the_same_numbers(xp, name):
    kwargs = dict(preset=presets.get(name), steps=8, seed=[0, 1], stride=2, diversity=50.0)
    ref = sv.ascend(two_stream(np), sv.channel(0), **kwargs)
    r = sv.ascend(two_stream(xp), sv.channel(0), **kwargs)
    for k in ref.inputs:
        np.testing.assert_allclose(r.inputs[k], ref.inputs[k], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(r.trace["total"], ref.trace["total"], rtol=1e-9)


def test_a_batch_item_moves_as_a_single_run_with_its_seed():
    """Transforms and spectral parameters are drawn per visualization, like noise and jitter."""
    kwargs = dict(preset=presets.fourier(), steps=6, stride=2)
    batch = sv.ascend(two_stream(), [sv.channel(0), sv.channel(1)], seed=[3, 4], **kwargs)
    single = sv.ascend(two_stream(), sv.channel(1), seed=4, **kwargs)
    for k in batch.inputs:
        np.testing.assert_allclose(batch.inputs[k][1], single.inputs[k][0], rtol=1e-10, atol=1e-10)


def test_the_config_records_what_was_used_and_rebuilds_the_preset():
    r = sv.ascend(two_stream(), sv.channel(0), preset=presets.maco(alpha=1.5), steps=2, seed=[0, 1],
                  diversity=0.5)
    c = r.config
    assert c["parameterization"] == {"name": "maco", "alpha": 1.5, "rms": 0.35, "decorrelate": True}
    assert c["transforms"]["rotate"] == [-10.0, 10.0] and "numpy" in c["transforms"]["drawn_from"]
    assert c["optimizer"]["moment"] == "pixel" and c["diversity"]["weight"] == 0.5
    assert presets.from_dict(c["preset"]) == presets.maco(alpha=1.5)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"parameterization": "wavelet"}, ValueError,
     "unknown parameterization 'wavelet'; valid choices: 'pixel', 'fourier', 'maco'"),
    ({"transforms": 3}, TypeError, "transforms must be a stviz_core.transforms.Transforms"),
    ({"transforms": {"scale": [2.0, 1.0]}}, ValueError, r"scale must be a range \(lo, hi\)"),
    ({"diversity": -1}, ValueError, "diversity weight must be >= 0"),
    ({"moment": "frequency"}, ValueError, "valid choices: 'pixel', 'coordinate', 'item'"),
])
def test_bad_options_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        sv.ascend(two_stream(), sv.channel(0), steps=2, **kwargs)
