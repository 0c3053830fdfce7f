"""The demo: synthetic action clips (:mod:`.synthetic_actions`), the shipped two-stream model
trained on them (:mod:`.model`, weights in this folder) and the main job ``stviz demo``
(:mod:`.run`)."""

from . import synthetic_actions as data  # noqa: F401 - the 0.1 module's name
from ..activity import record_cached  # noqa: F401 - the 0.1 module's name
from .model import CHECKPOINTS, load_demo_model  # noqa: F401 - the 0.1 module's names
from .run import GAMMAS, run_demo, visualize_checkpoints, write_demo_report  # noqa: F401

__all__ = ["run_demo", "visualize_checkpoints", "GAMMAS"]


def main(argv=None):
    """``stviz demo`` with ``argv`` as its options (the 0.1 module's entry point)."""
    import sys

    from ..cli import main as cli_main

    return cli_main(["demo", *(sys.argv[1:] if argv is None else argv)])
