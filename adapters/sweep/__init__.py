"""Sweeps: every unit of a layer under several settings, resumable, on one machine or a Ray cluster.

:mod:`.grid` declares the grid (TOML, YAML or options) and its cells,
:mod:`.run` runs them (:func:`run_sweep`; the local engine), :mod:`.ray_engine`
runs batches as Ray tasks, :mod:`.report` draws the figures and the index page.
"""

from stviz_core.atomic import atomic_path  # noqa: F401 - the 0.1 module's names below too

from ..model_loading import fingerprint, framework_of, load_model  # noqa: F401
from .folder import FORMAT, VERSION  # noqa: F401
from .grid import Grid, batches, make_cells  # noqa: F401
from .run import LocalEngine, channel_counts  # noqa: F401
from .run import SweepFolder, SweepProgress, SweepSummary, open_model, run_cells, run_sweep

__all__ = ["run_sweep", "SweepProgress", "SweepSummary", "SweepFolder", "run_cells", "open_model"]
