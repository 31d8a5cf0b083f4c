"""Typed columns made from tensor summaries: shapes, element counts, dtypes and statistics.

Each function turns a list of summaries (None where there is no tensor) into NumPy arrays, one
per column, so a DataFrame is built column-wise and its numbers sort and compare as numbers.
Statistics are float64 with NaN where unknown; NaN and Inf counts are int64 (0 where unknown).

Example:
    >>> import torch
    >>> from gradtrace.model.records import TensorSummary
    >>> cols = stat_columns("grad", [TensorSummary.of(torch.tensor([3.0, -4.0])), None])
    >>> cols["grad_norm"].tolist(), cols["grad_min"].dtype.name, cols["grad_nan"].tolist()
    ([5.0, nan], 'float64', [0, 0])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gradtrace.model.records import TensorSummary

__all__ = ["STATS", "COUNTS", "stat_columns", "stat_names", "meta_columns", "objects"]

#: The statistics of each summary, as float64 columns ``<prefix>_<stat>``...
STATS = ("min", "max", "mean", "norm")
#: ...and the counts of non-finite elements, as int64 columns.
COUNTS = ("nan", "inf")


def stat_names(prefix: str, counts: bool = True) -> list[str]:
    """The names of the columns :func:`stat_columns` makes for ``prefix``."""
    return [f"{prefix}_{s}" for s in STATS + COUNTS * counts]


def stat_columns(prefix: str, summaries: Sequence[TensorSummary | None]
                 ) -> dict[str, np.ndarray]:
    """``<prefix>_min/max/mean/norm`` (float64, NaN where unknown) and ``<prefix>_nan/inf``."""
    n = len(summaries)
    found = [(i, s) for i, s in enumerate(summaries) if s is not None]
    numbers = np.full((n, len(STATS)), np.nan)
    counts = np.zeros((n, len(COUNTS)), dtype=np.int64)
    if found:
        rows = [i for i, _ in found]
        # None becomes NaN when NumPy makes a float64 array
        numbers[rows] = np.array([(s.min, s.max, s.mean, s.norm) for _, s in found],
                                 dtype=np.float64)
        counts[rows] = np.array([(s.nan, s.inf) for _, s in found], dtype=np.int64)
    out = {f"{prefix}_{name}": numbers[:, k].copy() for k, name in enumerate(STATS)}
    out.update({f"{prefix}_{name}": counts[:, k].copy() for k, name in enumerate(COUNTS)})
    return out


def meta_columns(summaries: Sequence[TensorSummary | None]) -> dict[str, Any]:
    """``shape`` (tuples of ints), ``numel`` and ``dtype`` of each summary.

    ``numel`` is int64, or pandas' nullable ``Int64`` when some summary is missing.
    """
    import pandas

    numel = [None if s is None else s.numel for s in summaries]
    return {
        "shape": objects([None if s is None else s.shape for s in summaries]),
        "numel": (pandas.array(numel, dtype="Int64") if None in numel
                  else np.array(numel, dtype=np.int64)),
        "dtype": objects([None if s is None else s.dtype for s in summaries]),
    }


def objects(items: Sequence[Any]) -> np.ndarray:
    """A column of Python objects (tuples stay whole, not spread over a second dimension)."""
    out = np.empty(len(items), dtype=object)
    for i, item in enumerate(items):
        out[i] = item
    return out
