"""Argument validation shared by the kernel and the adapters.

Each check returns the value it accepts and raises an error whose message
names the argument, the problem and, for choices, the valid values.
"""

from ._checks import (check_canonical, check_finite, choice, non_negative, non_negative_int, positive,
                      positive_int, real)

__all__ = ["check_canonical", "check_finite", "choice", "non_negative", "non_negative_int", "positive", "positive_int",
           "real"]
