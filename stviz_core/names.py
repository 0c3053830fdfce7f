"""Suggestions for a misspelt name: layers, classes, presets, grid keys."""

from __future__ import annotations

import difflib

__all__ = ["closest_names"]


def closest_names(wanted: str, names, n: int = 5) -> list:
    """Up to ``n`` of ``names`` close to ``wanted``: by spelling, then by the same last dotted part.

    >>> closest_names("conv5_fusoin", ["conv5_fusion", "fc6", "rgb.conv5_3"])
    ['conv5_fusion']
    """
    names = list(names)
    close = difflib.get_close_matches(wanted, names, n=n, cutoff=0.5)
    tail = wanted.rsplit(".", 1)[-1]
    close += [m for m in names if m.rsplit(".", 1)[-1] == tail and m not in close]
    return close[:n]
