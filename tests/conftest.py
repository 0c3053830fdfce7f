"""Shared fixtures: the array namespaces every kernel test runs on, and hypothesis profiles."""

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=40, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=40)
settings.register_profile("thorough", deadline=None, max_examples=400)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def _namespaces():
    import array_api_strict

    spaces = [
        pytest.param(("numpy", np), id="numpy"),
        pytest.param(("array_api_strict", array_api_strict), id="array_api_strict"),
    ]
    try:
        import torch  # noqa: F401
        from array_api_compat import torch as torch_xp
    except ImportError:  # CI installs torch; a plain checkout may not have it
        spaces.append(pytest.param(("torch", None), id="torch",
                                   marks=pytest.mark.skip(reason="torch is not installed")))
    else:
        spaces.append(pytest.param(("torch", torch_xp), id="torch"))
    return spaces


NAMESPACES = _namespaces()


@pytest.fixture(params=NAMESPACES, scope="session")
def xp(request):
    """An array-API namespace: numpy, array_api_strict or torch (CPU)."""
    return request.param[1]


def asarray(xp, values):
    """float64 array of ``values`` in namespace ``xp``."""
    return xp.asarray(np.array(values, dtype=np.float64, order="C", copy=True), dtype=xp.float64)


def host(x):
    from stviz_core._xp import to_numpy

    return np.asarray(to_numpy(x), dtype=np.float64)
