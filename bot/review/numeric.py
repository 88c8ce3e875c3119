"""The spread of a unit's times with numpy: the review's stored times picked and sorted as arrays, not as lists of
Python floats (for a million requests a list takes 40 MiB more, at the moment a report's memory peaks)."""

from __future__ import annotations

import math
from array import array

import numpy as np

from routing.review import Spread


def numpy_spread(values: array, positions: array | None) -> Spread:
    """What `routing.review.python_spread` gives, to the last bit: the quantiles are taken the same way, in
    Python floats, from the numbers numpy sorted."""
    every = np.frombuffer(values, dtype=np.float64)  # a view, no copy
    picked = every if positions is None else every[np.frombuffer(positions, dtype=f"u{positions.itemsize}")]
    s = np.sort(picked[~np.isnan(picked)])
    if s.size == 0:
        return Spread(0, None, None)
    return Spread(int(s.size), _quantile(s, 0.5), _quantile(s, 0.9))


def _quantile(s: np.ndarray, q: float) -> float:
    """`routing.review.quantile` of numbers sorted already."""
    pos = (len(s) - 1) * q
    lo = math.floor(pos)
    hi = min(lo + 1, len(s) - 1)
    a, b = float(s[lo]), float(s[hi])
    return a + (b - a) * (pos - lo)
