"""The demo: synthetic action clips (:mod:`.synthetic_actions`), the shipped two-stream model
trained on them (:mod:`.model`, weights in this folder) and the main job ``stviz demo``
(:mod:`.run`)."""

from .run import GAMMAS, run_demo, visualize_checkpoints

__all__ = ["run_demo", "visualize_checkpoints", "GAMMAS"]
