"""Turn live tensors into :class:`~gradtrace.model.trace.TensorSummary` records, many at a time.

# NOTE [why summaries are batched]
# Computing min/max/mean/norm eagerly for every tensor an op makes costs 9-22 us each and made a
# 20-layer MLP several times slower. The recorder therefore keeps detached references while the
# traced code runs and summarises them all here, once, when the trace ends.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from gradtrace.model.records import Stats, TensorSummary, make

__all__ = ["DEFAULT_KEEP_LIMIT", "DEFAULT_KEEP_BUDGET", "VALUES", "summarize", "stats_of",
           "host_stats", "HOST_DTYPES", "device_stats", "stats_from_row", "quick_stats",
           "stats_from_quick", "dtype_name"]

#: Tensors with at most this many elements are copied whole into the Trace...
DEFAULT_KEEP_LIMIT = 4096
#: ...until the copies of one trace hold this many elements (4 MiB of float32); then summarised.
DEFAULT_KEEP_BUDGET = 1 << 20
#: What a trace keeps of each tensor (the ``values=`` option).
VALUES = ("summary", "full", "none")


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def summarize(tensors: Sequence[torch.Tensor], keep_limit: int | None = DEFAULT_KEEP_LIMIT,
              owned: Sequence[bool] = ()) -> list[TensorSummary]:
    """Summarise each tensor; copy it whole when it has at most ``keep_limit`` elements.

    Args:
        tensors: live tensors (they are read, never modified).
        keep_limit: largest element count copied whole; None keeps every tensor whole.
        owned: per tensor, whether it is already a private copy that the summary may keep.

    Returns:
        One summary per tensor, in order.

    Example:
        >>> s = summarize([torch.tensor([1.0, float("nan"), 3.0])])[0]
        >>> (s.shape, s.min, s.max, s.nan)
        ((3,), 1.0, 3.0, 1)
    """
    with torch._C.DisableTorchFunction(), torch.no_grad():
        tensors = [t.detach() for t in tensors]
        owned = list(owned) + [False] * (len(tensors) - len(owned))
        kept = [_plain(t) and (keep_limit is None or t.numel() <= keep_limit) for t in tensors]
        # a tensor kept whole gets its statistics from its copy, when they are first read
        stats = iter(_stats([t for t, k in zip(tensors, kept) if not k]))
        copies = iter(_to_cpu([t for t, k in zip(tensors, kept) if k],
                              [m for m, k in zip(owned, kept) if k]))
        out = []
        for t, k in zip(tensors, kept):
            out.append(make(
                TensorSummary, shape=tuple(t.shape), dtype=dtype_name(t.dtype),
                device=str(t.device), values=next(copies) if k else None,
                stats=None if k else next(stats)))
        return out


def _to_cpu(tensors: list[torch.Tensor], owned: list[bool]) -> list[torch.Tensor]:
    """CPU copies; tensors on an accelerator go across in one transfer per dtype, not one each."""
    out: list[torch.Tensor | None] = [
        (t if mine else t.clone()) if t.device.type == "cpu" else None
        for t, mine in zip(tensors, owned)]
    groups: dict[tuple[torch.device, torch.dtype], list[int]] = {}
    for i, t in enumerate(tensors):
        if out[i] is None:
            groups.setdefault((t.device, t.dtype), []).append(i)
    for index in groups.values():
        flat = torch.cat([tensors[i].reshape(-1) for i in index]).cpu()
        sizes = [tensors[i].numel() for i in index]
        for i, part in zip(index, torch.split(flat, sizes)):
            out[i] = part.view(tensors[i].shape)
    return out  # type: ignore[return-value]


def device_stats(t: torch.Tensor) -> torch.Tensor:
    """``[min, max, mean, norm, nan, inf]`` of ``t`` as a tensor on its own device: no host sync.

    For a value that will change before the trace ends; :func:`stats_from_row` reads it later.
    """
    with torch._C.DisableTorchFunction(), torch.no_grad():
        x = t.detach()
        if x.is_complex():
            x = x.abs()
        x = x.to(torch.float64)
        finite = torch.isfinite(x)
        count = finite.sum()
        big = torch.finfo(torch.float64).max
        row = [torch.where(finite, x, big).amin(), torch.where(finite, x, -big).amax(),
               torch.where(finite, x, 0).sum() / count.clamp(min=1),
               torch.linalg.vector_norm(torch.where(finite, x, 0)),
               torch.isnan(x).sum(), torch.isinf(x).sum(), count]
        return torch.stack([v.to(torch.float64) for v in row])


_PLAIN_TYPES = (torch.Tensor, torch.nn.Parameter)
_TINY, _HUGE = 1e-15, 1e18  # float32 squares stay normal between 1e-38 and 3.4e38


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
    if not t.is_cpu or t.dtype not in HOST_DTYPES or type(t) not in _PLAIN_TYPES \
            or t.layout != torch.strided or t.is_conj() or t.is_neg() or not t.numel():
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


def stats_from_row(row: list[float]) -> Stats:
    """The :class:`Stats` of a row made by :func:`device_stats`, once fetched to the host."""
    lo, hi, mean, norm, nan, inf, count = row
    if not count:
        return Stats(nan=int(nan), inf=int(inf))
    return Stats(lo, hi, mean, norm, int(nan), int(inf))


def stats_of(t: torch.Tensor) -> Stats:
    """The statistics of one tensor."""
    with torch._C.DisableTorchFunction(), torch.no_grad():
        return _stats([t.detach()])[0]


def _plain(t: torch.Tensor) -> bool:
    return t.layout == torch.strided and t.device.type != "meta" and not t.is_nested


def _stats(tensors: list[torch.Tensor]) -> list[Stats]:
    """min/max/mean/norm over finite elements and nan/inf counts, for many tensors at once.

    Float tensors go through one batched ``_foreach_norm``; a finite norm proves there is no NaN
    or Inf, so only the rare non-finite tensor pays for counting them.
    """
    out: list[Stats] = [Stats() for _ in tensors]
    groups: dict[torch.dtype, list[int]] = {}
    slow = []
    for i, t in enumerate(tensors):
        if not _plain(t) or not t.numel():
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
    if x.is_complex():
        x = x.abs()
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    x = x.to(torch.float64)
    nan_mask, inf_mask = torch.isnan(x), torch.isinf(x)
    nan, inf = int(nan_mask.sum()), int(inf_mask.sum())
    if nan or inf:
        x = x[~(nan_mask | inf_mask)]
    if x.numel() == 0:
        return Stats(nan=nan, inf=inf)
    row = torch.stack([x.min(), x.max(), x.mean(), torch.linalg.vector_norm(x)])
    lo, hi, mean, norm = row.tolist()
    return Stats(lo, hi, mean, norm, nan, inf)


def quick_stats(t: torch.Tensor) -> torch.Tensor:
    """``[min, max, sum, norm]`` of a float tensor, on its device, in three reductions.

    For a gradient summarised while the backward pass runs, so it need not be held: NaN and
    Inf propagate into the row, and :func:`stats_from_quick` reports them without counting.
    """
    with torch._C.DisableTorchFunction(), torch.no_grad():
        x = _memory_order(t.detach())
        if x.dtype not in (torch.float32, torch.float64):
            x = x.float()
        lo, hi = torch.aminmax(x)
        return torch.stack([lo, hi, x.sum(), torch.linalg.vector_norm(x)]).to(torch.float64)


def stats_from_quick(row: list[float], numel: int) -> Stats:
    """The :class:`Stats` of a :func:`quick_stats` row: ``nan``/``inf`` of -1 mean "some"."""
    lo, hi, total, norm = row
    if any(v != v for v in row):
        return Stats(nan=-1)
    if abs(lo) == float("inf") or abs(hi) == float("inf"):
        return Stats(inf=-1)
    return Stats(lo, hi, total / numel, norm)
