"""The fused step's pure functions (stviz_core.run.fused) compute what the eager step computes.

A backend with the optional member ``compiled`` gets the step's penalties and Adam as pure
functions; here the reference backend hands them back unchanged, so the fused path runs on
numpy, array-api-strict and torch and must give the eager run's numbers, step by step.
"""

import numpy as np
import pytest

import stviz_core as sv
from stviz_core.backend import backend_member
from stviz_core.testing import LinearBackend

from tests.stviz_core.test_inversion import clip_for, linear_two_stream


class Handing(LinearBackend):
    """The reference backend with ``compiled``: records the functions it is handed, returns them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.handed = []

    def compiled(self, fn):
        self.handed.append(fn.__name__)
        return fn


def _pair(xp):
    eager = linear_two_stream(xp)
    fused = Handing({k: v for k, v in eager.kernels_np.items()}, eager.inputs, xp=xp)
    return eager, fused


def _close(a, b, rtol=1e-12):
    for k in a.inputs:
        np.testing.assert_allclose(b.inputs[k], a.inputs[k], rtol=rtol, atol=rtol * 160)
    for k in a.trace:
        np.testing.assert_allclose(b.trace[k], a.trace[k], rtol=rtol, atol=rtol)


@pytest.mark.parametrize("preset, moment", [("paper", None), ("paper", "coordinate"),
                                            ("fourier", None), ("maco", None),
                                            ("canvas", None)])
def test_the_fused_step_gives_the_eager_steps_numbers(xp, preset, moment):
    eager, fused = _pair(xp)
    options = dict(steps=6, seed=[3, 5], stride=2, moment=moment,
                   preset=sv.presets.get(preset, steps=6))
    a = sv.ascend(eager, sv.channel(0), **options)
    b = sv.ascend(fused, sv.channel(0), **options)
    _close(a, b)
    assert set(fused.handed) == {"regularize", "adam"}
    assert backend_member(eager, "compiled") is None  # absent: the eager step


def test_an_anchored_and_continued_fused_run_gives_the_eager_numbers():
    eager, fused = _pair(np)
    clip = clip_for(eager)
    options = dict(seed=2, stride=2, anchor=3.0, preset="paper", init=clip)
    a = sv.ascend(eager, sv.channel(0), steps=8, **options)
    first = sv.ascend(fused, sv.channel(0), steps=4, schedule_steps=8, keep_state=True, **options)
    b = sv.ascend(fused, sv.channel(0), steps=4, **{**options, "init": first})
    np.testing.assert_allclose(b.inputs["rgb"], a.inputs["rgb"], rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(b.trace["rgb/anchor"], a.trace["rgb/anchor"][4:], rtol=1e-12)
