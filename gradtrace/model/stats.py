"""Statistics of tensors: min, max, mean and norm of the finite elements, and how many are NaN
or Inf. Pure computations over tensors and rows of numbers; nothing here imports gradtrace.

# NOTE [one NaN/Inf convention]
# Every path gives the same :class:`Stats`: ``min``/``max``/``mean``/``norm`` over the finite
# elements (None when there are none), and ``nan``/``inf`` as exact counts. The paths differ in
# where and when they run, for speed:
#   host_stats      a float or bool tensor in CPU memory, now, with NumPy;
#   exact_int_stats an integer tensor in CPU memory whose sums are exact, now, with NumPy;
#   stats_of_many   any tensors, now, through torch, batched (stats_of: one tensor);
#   device_row      on the tensor's device, no host sync; stats_from_row reads it later;
#   quick_row       a big gradient during backward, in five reductions: stats_from_quick.
# The torch paths count NaN and Inf with one helper (_nonfinite_counts) and read their rows with
# one function (stats_from_row). The quick path does not mask: masking every big gradient would
# cost a float64 copy and four more passes on the device, for the rare one that is not finite.
# So a quick row with NaN or Inf gives exact counts and no finite statistics (min..norm None).
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch

__all__ = ["Stats", "stats_of", "stats_of_many", "stats_of_copies", "host_stats", "host_readable",
           "HOST_DTYPES", "exact_int_stats",
           "device_row", "stats_from_row", "quick_row", "stats_from_quick", "dtype_name",
           "has_dense_values"]


class Stats(NamedTuple):
    """Statistics over a tensor's finite elements, and exact counts of NaN and Inf elements."""

    min: float | None = None
    max: float | None = None
    mean: float | None = None
    norm: float | None = None
    nan: int = 0
    inf: int = 0


@functools.cache  # a handful of dtypes, asked for every tensor a trace keeps
def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def has_dense_values(t: torch.Tensor) -> bool:
    """Whether ``t``'s elements can be read and copied (not sparse, meta or nested)."""
    return t.layout == torch.strided and t.device.type != "meta" and not t.is_nested


def _real_float64(x: torch.Tensor) -> torch.Tensor:
    """The values statistics are taken of, in float64: magnitudes for complex, 0/1 for bool."""
    if x.is_complex():
        x = x.abs()
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    return x.to(torch.float64)


def _nonfinite_counts(x: torch.Tensor) -> list[torch.Tensor]:
    """How many elements are NaN and how many infinite, as tensors on ``x``'s device."""
    return [torch.isnan(x).sum(), torch.isinf(x).sum()]


def stats_from_row(row: list[float]) -> Stats:
    """The :class:`Stats` of a row ``[min, max, mean, norm, nan, inf, finite count]``, fetched to
    the host (from :func:`device_row`, or worked out by :func:`stats_of_many`)."""
    lo, hi, mean, norm, nan, inf, count = row
    if not count:
        return Stats(nan=int(nan), inf=int(inf))
    return Stats(lo, hi, mean, norm, int(nan), int(inf))


def device_row(t: torch.Tensor) -> torch.Tensor:
    """:func:`stats_from_row`'s row for ``t`` as a tensor on its own device: no host sync.

    For a value that will change before the trace ends; the row is fetched later.
    """
    with torch._C.DisableTorchFunction(), torch.no_grad():
        x = _real_float64(t.detach())
        finite = torch.isfinite(x)
        count = finite.sum()
        big = torch.finfo(torch.float64).max
        row = [torch.where(finite, x, big).amin(), torch.where(finite, x, -big).amax(),
               torch.where(finite, x, 0).sum() / count.clamp(min=1),
               torch.linalg.vector_norm(torch.where(finite, x, 0)),
               *_nonfinite_counts(x), count]
        return torch.stack([v.to(torch.float64) for v in row])


_PLAIN_TYPES = (torch.Tensor, torch.nn.Parameter)
_TINY, _HUGE = 1e-15, 1e18  # float32 squares stay normal between 1e-38 and 3.4e38


def host_readable(t: torch.Tensor) -> bool:
    """Whether :func:`host_stats` can summarise ``t``: a non-empty float or bool tensor in CPU
    memory, of plain layout."""
    return t.is_cpu and t.dtype in HOST_DTYPES and type(t) in _PLAIN_TYPES \
        and t.layout == torch.strided and not t.is_conj() and not t.is_neg() and t.numel() > 0


def host_stats(t: torch.Tensor) -> Stats | None:
    """The statistics of a float or bool tensor in CPU memory, worked out now; None for any
    other tensor.

    NumPy reads the memory in place, in memory order: two reductions and two dot products (one
    with a vector of ones for the sum) cost about half of what the same reductions cost through
    torch's dispatcher, and a tensor that was just made is still in cache. NaN and Inf are
    counted and left out; values whose squares could underflow or overflow float32 are summed
    in float64.

    Example:
        >>> host_stats(torch.tensor([[3.0, -4.0]]).T)
        Stats(min=-4.0, max=3.0, mean=-0.5, norm=5.0, nan=0, inf=0)
        >>> host_stats(torch.tensor([1.0, float("-inf"), float("nan")]))
        Stats(min=1.0, max=1.0, mean=1.0, norm=1.0, nan=1, inf=1)
    """
    if not host_readable(t):
        return None
    with torch._C.DisableTorchFunction():
        if t.is_contiguous():  # most are: read in place, detached by numpy(force=True)
            a = t.numpy(force=True).reshape(-1)
        else:
            x = _memory_order(t.detach())
            if not x.is_contiguous():
                return None
            a = x.numpy().reshape(-1)
    if a.dtype == np.bool_:
        ones, n = int(np.count_nonzero(a)), a.size
        return Stats(float(ones == n), float(ones > 0), ones / n, math.sqrt(ones))
    lo, hi = float(_MIN(a)), float(_MAX(a))
    if _safe(lo, hi, a.size):
        return _dots(a, lo, hi)
    kept = a[np.isfinite(a)]  # NaN, Inf, or squares that would underflow or overflow float32
    nan = int(np.count_nonzero(np.isnan(a))) if kept.size < a.size else 0
    inf = a.size - kept.size - nan
    if not kept.size:
        return Stats(nan=nan, inf=inf)
    lo, hi = float(_MIN(kept)), float(_MAX(kept))
    if not _safe(lo, hi, kept.size):
        kept = kept.astype(np.float64)
    return _dots(kept, lo, hi)._replace(nan=nan, inf=inf)


def exact_int_stats(t: torch.Tensor) -> Stats | None:
    """The statistics of an integer tensor in CPU memory, worked out exactly with NumPy; None
    for any other tensor, or one whose squares could sum past 2**53.

    Below that bound every sum of its elements and of their squares is a whole number that
    float64 holds exactly, in any order of summing, so the mean (the sum divided by the count,
    rounded once) and the norm (the square root of the sum of squares, rounded once) are the
    very numbers :func:`stats_of` gives, at a fraction of the cost of its torch calls.

    Example:
        >>> exact_int_stats(torch.tensor([[3, -4]]))
        Stats(min=-4.0, max=3.0, mean=-0.5, norm=5.0, nan=0, inf=0)
    """
    if not t.is_cpu or t.dtype not in _INT_DTYPES or type(t) not in _PLAIN_TYPES \
            or t.layout != torch.strided or not t.numel():
        return None
    with torch._C.DisableTorchFunction():
        a = t.numpy(force=True).reshape(-1).astype(np.int64, copy=False)
    lo, hi = int(_MIN(a)), int(_MAX(a))
    if a.size * max(-lo, hi) ** 2 >= 2 ** 53:
        return None
    total, squares = int(a.sum()), int(np.dot(a, a))
    return Stats(float(lo), float(hi), total / a.size, math.sqrt(squares))


_INT_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def stats_of_copies(tensors: Sequence[torch.Tensor]) -> list[Stats | None]:
    """The statistics of many small float or bool CPU tensors at once (None for any other).

    They are laid end to end in float64 and segmented reductions (``reduceat``) give each its
    minimum, maximum, sum and sum of squares: a few NumPy calls for hundreds of tensors instead
    of a few each. A tensor with any NaN or Inf has a sum of squares that is not finite; only
    such a tensor is read again, masked, for its counts and its finite statistics.

    Example:
        >>> stats_of_copies([torch.tensor([3.0, -4.0]), torch.tensor([1.0, float("nan")])])
        [Stats(min=-4.0, max=3.0, mean=-0.5, norm=5.0, nan=0, inf=0), \
Stats(min=1.0, max=1.0, mean=1.0, norm=1.0, nan=1, inf=0)]
    """
    out: list[Stats | None] = [None] * len(tensors)
    index, parts = [], []
    with torch._C.DisableTorchFunction():
        for i, t in enumerate(tensors):
            if t.dtype in HOST_DTYPES and t.is_cpu and t.layout == torch.strided and t.numel():
                index.append(i)
                parts.append(t.numpy(force=True).reshape(-1))
    start, size = 0, 0
    for end, part in enumerate(parts):  # batches that fit the scratch arrays
        if size + part.size > _SCRATCH and end > start:
            for i, stats in zip(index[start:end], _stats_end_to_end(parts[start:end], size)):
                out[i] = stats
            start, size = end, 0
        size += part.size
    for i, stats in zip(index[start:], _stats_end_to_end(parts[start:], size)):
        out[i] = stats
    return out


# NOTE [scratch arrays]
# Laying hundreds of copies end to end in a new float64 array, and squaring it into another,
# cost ten times the arithmetic (about 1 ms against 0.1 ms for 120K elements): each new array of
# a megabyte is fresh memory from the system, paid page by page. Each thread keeps two arrays of
# _SCRATCH elements (512 KiB each) for this instead.
_SCRATCH = 1 << 16
_scratch = threading.local()


def _stats_end_to_end(parts: list[np.ndarray], size: int) -> list[Stats]:
    """The statistics of each of ``parts`` (flat arrays, ``size`` elements in all)."""
    if not parts:
        return []
    sizes = np.fromiter((p.size for p in parts), dtype=np.intp, count=len(parts))
    starts = np.zeros(len(parts), dtype=np.intp)
    np.cumsum(sizes[:-1], out=starts[1:])
    if size <= _SCRATCH:
        arrays = getattr(_scratch, "arrays", None)
        if arrays is None:
            arrays = _scratch.arrays = (np.empty(_SCRATCH), np.empty(_SCRATCH))
        flat = np.concatenate(parts, out=arrays[0][:size])
        squared = arrays[1][:size]
    else:  # one copy bigger than the scratch arrays
        flat, squared = np.concatenate(parts, dtype=np.float64), np.empty(size)
    with np.errstate(all="ignore"):  # NaN and Inf are found below, from the squares
        squares = np.add.reduceat(np.square(flat, out=squared), starts)
        rows = zip(np.minimum.reduceat(flat, starts).tolist(),
                   np.maximum.reduceat(flat, starts).tolist(),
                   (np.add.reduceat(flat, starts) / sizes).tolist(), np.sqrt(squares).tolist(),
                   np.isfinite(squares).tolist())
    return [Stats(lo, hi, mean, norm) if finite else
            _masked_stats(flat[starts[k]:starts[k] + sizes[k]])
            for k, (lo, hi, mean, norm, finite) in enumerate(rows)]


def _masked_stats(a: np.ndarray) -> Stats:
    """The statistics of float64 ``a``'s finite elements, and its NaN and Inf counts."""
    finite = np.isfinite(a)
    nan = int(np.count_nonzero(np.isnan(a)))  # squares of finite float64 may still overflow
    inf = a.size - int(np.count_nonzero(finite)) - nan
    kept = a[finite]
    if not kept.size:
        return Stats(nan=nan, inf=inf)
    with np.errstate(over="ignore"):
        norm = math.sqrt(float(np.dot(kept, kept)))
    return Stats(float(kept.min()), float(kept.max()), float(kept.sum()) / kept.size, norm,
                 nan, inf)


def _safe(lo: float, hi: float, n: int) -> bool:
    """Whether float32 squares of values in [lo, hi] stay normal and their sum finite."""
    peak = max(-lo, hi)  # NaN when there is any
    return peak == 0 or _TINY < peak < _HUGE / n ** 0.5


def _dots(a: np.ndarray, lo: float, hi: float) -> Stats:
    n = a.size
    total = float(np.dot(a, _ones(a.dtype, n)) if n <= _MAX_ONES else a.sum(dtype=np.float64))
    return Stats(lo, hi, total / n, math.sqrt(float(np.dot(a, a))))


_MAX_ONES = 1 << 20
#: The dtypes :func:`host_stats` summarises (in CPU memory).
HOST_DTYPES = (torch.float32, torch.float64, torch.bool)
_MIN, _MAX = np.minimum.reduce, np.maximum.reduce  # a.min() adds a Python wrapper
_ones_by_dtype: dict[np.dtype, np.ndarray] = {}


def _ones(dtype: np.dtype, n: int) -> np.ndarray:
    """``n`` ones of ``dtype``: a view of one buffer, grown as needed up to ``_MAX_ONES``."""
    ones = _ones_by_dtype.get(dtype)
    if ones is None or ones.size < n:
        ones = _ones_by_dtype[dtype] = np.ones(max(n, 1 << 16), dtype=dtype)
    return ones[:n]


def stats_of(t: torch.Tensor) -> Stats:
    """The statistics of one tensor.

    Example:
        >>> stats_of(torch.tensor([1.0, float("nan"), 3.0]))
        Stats(min=1.0, max=3.0, mean=2.0, norm=3.1622776601683795, nan=1, inf=0)
    """
    with torch._C.DisableTorchFunction(), torch.no_grad():
        return stats_of_many([t.detach()])[0]


def stats_of_many(tensors: list[torch.Tensor]) -> list[Stats]:
    """min/max/mean/norm over finite elements and nan/inf counts, for many tensors at once.

    Float tensors go through one batched ``_foreach_norm``; a finite norm proves there is no NaN
    or Inf, so only the rare non-finite tensor pays for counting them.
    """
    out: list[Stats] = [Stats() for _ in tensors]
    groups: dict[torch.dtype, list[int]] = {}
    slow = []
    for i, t in enumerate(tensors):
        if not has_dense_values(t) or not t.numel():
            continue
        if t.dtype in (torch.float32, torch.float64):
            groups.setdefault(t.dtype, []).append(i)
        else:
            slow.append(i)
    for fast in groups.values():
        group = [_memory_order(tensors[i]) for i in fast]
        norms = torch._foreach_norm(group)
        lows, highs = zip(*[torch.aminmax(t) for t in group])
        means = [t.mean() for t in group]
        table = torch.stack([torch.stack(col) for col in (lows, highs, means, norms)])
        for i, lo, hi, mean, norm in zip(fast, *table.tolist()):
            if abs(norm) == float("inf") or norm != norm:
                slow.append(i)
            else:
                out[i] = Stats(lo, hi, mean, norm)
    for i in slow:
        out[i] = _stats_one(tensors[i])
    return out


def _memory_order(t: torch.Tensor) -> torch.Tensor:
    """The same elements with dims in memory order: reductions over a transposed gradient
    are several times slower than over the same memory read in order."""
    if t.is_contiguous() or t.dim() < 2:
        return t
    strides = t.stride()
    return t.permute(sorted(range(t.dim()), key=lambda d: -strides[d]))


def _stats_one(x: torch.Tensor) -> Stats:
    """The statistics of a tensor that may hold NaN or Inf, or is not float32/float64."""
    x = _real_float64(x)
    nan, inf = (int(n) for n in _nonfinite_counts(x))
    if nan or inf:
        x = x[torch.isfinite(x)]
    if x.numel() == 0:
        return Stats(nan=nan, inf=inf)
    row = torch.stack([x.min(), x.max(), x.mean(), torch.linalg.vector_norm(x)])
    return stats_from_row([*row.tolist(), nan, inf, x.numel()])


def quick_row(t: torch.Tensor) -> torch.Tensor:
    """``[min, max, sum, norm, nan, inf]`` of a float tensor, on its device, without masking.

    For a gradient summarised while the backward pass runs, so it need not be held:
    :func:`stats_from_quick` reads the row once fetched (see NOTE for what it gives when the
    gradient is not finite).
    """
    with torch._C.DisableTorchFunction(), torch.no_grad():
        x = _memory_order(t.detach())
        if x.dtype not in (torch.float32, torch.float64):
            x = x.float()
        lo, hi = torch.aminmax(x)
        return torch.stack([lo, hi, x.sum(), torch.linalg.vector_norm(x),
                            *_nonfinite_counts(x)]).to(torch.float64)


def stats_from_quick(row: list[float], numel: int) -> Stats:
    """The :class:`Stats` of a :func:`quick_row` of a tensor of ``numel`` elements.

    Example:
        >>> stats_from_quick(quick_row(torch.tensor([1.0, 3.0], dtype=torch.float64)).tolist(), 2)
        Stats(min=1.0, max=3.0, mean=2.0, norm=3.1622776601683795, nan=0, inf=0)
        >>> stats_from_quick(quick_row(torch.tensor([1.0, float("inf")])).tolist(), 2)
        Stats(min=None, max=None, mean=None, norm=None, nan=0, inf=1)
    """
    lo, hi, total, norm, nan, inf = row
    if nan or inf:  # the other columns include them: no finite statistics (see NOTE)
        return Stats(nan=int(nan), inf=int(inf))
    return Stats(lo, hi, total / numel, norm)
