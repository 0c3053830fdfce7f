"""Everything of stviz that touches the outside world, installed as ``stviz_adapters``:
model families, layouts, receptive fields, BN folding, weight porting, activity
recording, media output and the command line.

Importing this package imports no framework; each adapter imports its own
when it is used.
"""

from .cross_framework import compare
from .rf import receptive_field, receptive_fields

__all__ = ["compare", "receptive_field", "receptive_fields"]
