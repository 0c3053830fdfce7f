"""The old path of :mod:`stviz_core.run.loop` (the run pipeline is the package :mod:`stviz_core.run`).

This module *is* that one (``sys.modules`` maps the old name to it), so every
name it had, private ones included, stays importable from here, and a patched
attribute patches the module the run uses.
"""

import sys

from .run import loop as _moved

sys.modules[__name__] = _moved
