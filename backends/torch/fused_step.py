"""The fused step (issue 27 item 4): the kernel's pure step functions through ``torch.compile``.

:class:`.backend.TorchBackend` with ``fused_step=True`` (or the name of a ``torch.compile``
backend) answers the kernel's optional member ``compiled`` (``stviz_core.backend``): the
kernel hands it the pure functions of :mod:`stviz_core.run.fused` (a step's penalties and
their gradients; Adam's update) and gets them back compiled, each into one graph.

Compiled with static shapes (``dynamic=False``): a run's arrays keep their shapes and its
settings are constants, so each function compiles once per run (the step-dependent numbers
come in as arrays); the compiled functions are kept for the process, so a second run of
the same shapes and settings (a sweep's next unit) compiles nothing. Each new set of shapes
or settings compiles again, up to ``torch._dynamo.config.recompile_limit`` per function;
past it torch runs that function eagerly (with its warning).
"""

from __future__ import annotations

import functools
import warnings

__all__ = ["COMPILERS", "check_fused_step", "compiled"]

#: the ``torch.compile`` backends ``fused_step`` takes by name (True: ``"inductor"``, generated
#: C++/Triton code; ``"aot_eager"``: the captured graph run by ATen, quick to compile, for tests)
COMPILERS = ("inductor", "aot_eager")

_COMPILED: dict = {}


def check_fused_step(value):
    """``fused_step`` as a ``torch.compile`` backend name, None for off; ValueError otherwise."""
    if value is False or value is None:
        return None
    if value is True:
        return COMPILERS[0]
    if value in COMPILERS:
        return value
    raise ValueError(f"unknown fused_step {value!r}; valid choices: False, True (torch.compile with "
                     f"'inductor'), {', '.join(map(repr, COMPILERS))}")


def compiled(fn, compiler):
    """``torch.compile(fn, backend=compiler, dynamic=False)``, made once per process."""
    import torch

    key = (fn, compiler)
    if key not in _COMPILED:
        _COMPILED[key] = _quiet(torch.compile(fn, backend=compiler, dynamic=False))
    return _COMPILED[key]


def _quiet(fn):
    """``fn`` without dynamo's warning about the ``functools.lru_cache`` of array-api-compat's
    type checks (it traces the cached function itself, which is what the kernel needs)."""

    @functools.wraps(fn)
    def call(*args):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Dynamo detected a call to a `functools.lru_cache`")
            return fn(*args)

    return call
