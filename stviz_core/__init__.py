"""stviz: spatiotemporal activation maximization for video networks.

The framework-neutral kernel. It imports numpy and array-api-compat only;
framework backends are plugins found through the ``stviz.backends`` entry points.

Typical use::

    import stviz_core as sv
    result = sv.visualize(model, layer="conv5_fusion", channels=[4, 9],
                          inputs={"rgb": (1, 112, 112, 3), "flow": (10, 112, 112, 2)},
                          preset=sv.presets.paper(gamma=1), steps=300, seed=0)
    result.save("out/conv5_fusion")
"""

from __future__ import annotations

__version__ = "0.1.0"

# OpenMP's idle threads wait passively unless the user said otherwise: set before a framework
# loads its OpenMP runtime (issue 27; stviz_core.threads.wait_policy() says whether it could be)
from . import threads as _threads  # noqa: E402

_threads.set_wait_policy()

from . import codes, jitter, objectives, optim, presets, regularizers  # noqa: E402
from .backend import Backend, InputSpec, Plugin, input_specs, plugins, select_plugin  # noqa: E402
from .run.loop import NonFiniteError, ascend  # noqa: E402
from .run.options import RunOptions  # noqa: E402
from .model_contract import ModelContract, contract_of, declare  # noqa: E402
from .codes import Code  # noqa: E402
from .objectives import (Context, Objective, channel, class_logit, feature_match, neuron,  # noqa: E402
                         per_item)
from .result import Comparison, Result, compare, load, stack  # noqa: E402
from .run.start import Clip  # noqa: E402
from .visualize import accentuate, invert, visualize  # noqa: E402
from . import inversion  # noqa: E402

__all__ = [
    "__version__",
    "ascend",
    "RunOptions",
    "visualize",
    "invert",
    "accentuate",
    "inversion",
    "Result",
    "Clip",
    "Comparison",
    "compare",
    "load",
    "stack",
    "NonFiniteError",
    "Backend",
    "InputSpec",
    "input_specs",
    "Plugin",
    "plugins",
    "select_plugin",
    "ModelContract",
    "declare",
    "contract_of",
    "Objective",
    "Context",
    "channel",
    "neuron",
    "class_logit",
    "per_item",
    "feature_match",
    "Code",
    "codes",
    "presets",
    "regularizers",
    "objectives",
    "optim",
    "jitter",
]
