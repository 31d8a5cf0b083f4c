"""Typed columns for the DataFrames: statistics of tensor summaries, objects, nullable integers.

Each function turns a list (of summaries, None where there is no tensor) into NumPy or pandas
arrays, one per column, so a DataFrame is built column-wise and its numbers sort and compare as
numbers.
Statistics are float64 with NaN where unknown; NaN and Inf counts are int64 (0 where unknown).

Example:
    >>> import torch
    >>> from gradtrace.model.records import TensorSummary
    >>> cols = stat_columns("grad", [TensorSummary.of(torch.tensor([3.0, -4.0])), None])
    >>> cols["grad_norm"].tolist(), cols["grad_min"].dtype.name, cols["grad_nan"].tolist()
    ([5.0, nan], 'float64', [0, 0])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from gradtrace.model.records import Stats, TensorSummary

if TYPE_CHECKING:
    import pandas

__all__ = ["STATS", "COUNTS", "stat_columns", "stat_table", "named_stat_columns", "stat_names",
           "objects", "nullable_ints"]

#: The statistics of each summary, as float64 columns ``<prefix>_<stat>``...
STATS = ("min", "max", "mean", "norm")
#: ...and the counts of non-finite elements, as int64 columns.
COUNTS = ("nan", "inf")


def stat_names(prefix: str, counts: bool = True) -> list[str]:
    """The names of the columns :func:`stat_columns` makes for ``prefix``."""
    return [f"{prefix}_{s}" for s in STATS + COUNTS * counts]


def stat_table(summaries: Sequence[TensorSummary | None]) -> tuple[np.ndarray, np.ndarray]:
    """The statistics of each summary as two tables with one column per summary: ``STATS``
    (float64, NaN where unknown) and ``COUNTS`` (int64, 0 where there is no summary).

    One NumPy conversion of every summary's :class:`~gradtrace.model.stats.Stats` row, rather than
    a Python read per cell: an unknown statistic (None) becomes NaN, and the counts are whole
    numbers, exact in float64.
    """
    rows = [_NO_STATS if s is None else s.statistics for s in summaries]
    width = len(_NO_STATS)
    table = np.fromiter((math.nan if v is None else v for row in rows for v in row),
                        dtype=np.float64, count=len(rows) * width).reshape(len(rows), width)
    # transposed and contiguous: each column below is one contiguous row of this copy
    numbers = np.ascontiguousarray(table[:, :len(STATS)].T)
    counts = table[:, len(STATS):].T.astype(np.int64)
    return numbers, counts


_NO_STATS = Stats()  # the row of a missing summary: NaN statistics, no NaN or Inf counted


def stat_columns(prefix: str, summaries: Sequence[TensorSummary | None]
                 ) -> dict[str, np.ndarray]:
    """``<prefix>_min/max/mean/norm`` (float64, NaN where unknown) and ``<prefix>_nan/inf``."""
    return named_stat_columns(prefix, *stat_table(summaries))


def named_stat_columns(prefix: str, numbers: np.ndarray, counts: np.ndarray
                       ) -> dict[str, np.ndarray]:
    """The columns of a :func:`stat_table` (or some of its rows), named ``<prefix>_<stat>``."""
    out = {f"{prefix}_{name}": numbers[k] for k, name in enumerate(STATS)}
    out.update({f"{prefix}_{name}": counts[k] for k, name in enumerate(COUNTS)})
    return out


def objects(items: Sequence[Any]) -> np.ndarray:
    """A column of Python objects (tuples stay whole, not spread over a second dimension)."""
    return np.fromiter(items, dtype=object, count=len(items))


def nullable_ints(values: Sequence[int | None]) -> pandas.arrays.IntegerArray:
    """A pandas ``Int64`` column, missing where a value is None.

    Built from its values and mask, which costs a fraction of ``pandas.array(values,
    dtype="Int64")`` checking every element.
    """
    import pandas

    n = len(values)
    missing = np.fromiter((v is None for v in values), dtype=bool, count=n)
    numbers = np.fromiter((0 if v is None else v for v in values), dtype=np.int64, count=n)
    return pandas.arrays.IntegerArray(numbers, missing)
