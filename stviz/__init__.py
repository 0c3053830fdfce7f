"""``python -m stviz``: the stviz command line (see ``stviz --help``).

Importing it imports ``stviz_core``, which sets OpenMP's wait policy before a framework
starts (:mod:`stviz_core.threads`).
"""

import stviz_core  # noqa: F401
