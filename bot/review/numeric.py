"""The spread of a unit's times with numpy: the review's stored times picked and sorted as arrays, not as lists of
Python floats (for a million requests a list takes 40 MiB more, at the moment a report's memory peaks)."""

from __future__ import annotations

from array import array

import numpy as np

from routing.review import Spread, sorted_quantile


def numpy_spread(values: array, positions: array | None) -> Spread:
    """What `routing.review.python_spread` gives, to the last bit: the quantiles are taken the same way, in
    Python floats, from the numbers numpy sorted."""
    every = np.frombuffer(values, dtype=np.float64)  # a view, no copy
    picked = every if positions is None else every[np.frombuffer(positions, dtype=f"u{positions.itemsize}")]
    s = np.sort(picked[~np.isnan(picked)])
    if s.size == 0:
        return Spread(0, None, None)
    return Spread(int(s.size), sorted_quantile(s, 0.5), sorted_quantile(s, 0.9))
