"""The old path of the run plan and its config, now :mod:`stviz_core.run.planning` and
:mod:`stviz_core.run.config` (the run pipeline is the package :mod:`stviz_core.run`).

Every name this module had stays importable from here.
"""

from .run.config import _TRANSFORM_SEEDS, _input_config, _name, run_config  # noqa: F401
from .run.options import _objective_scale, _schedule, _transforms  # noqa: F401
from .run.options import seed_value as _seed  # noqa: F401
from .run.planning import (RunSettings, _a_hat, _batch_objective, _channel_count,  # noqa: F401
                           _check_codes, _check_units, _layer, _planned_steps, _receptive_field,
                           _seeds, _specs, _split, _used_inputs, plan_run)

__all__ = ["RunSettings", "plan_run", "run_config"]
