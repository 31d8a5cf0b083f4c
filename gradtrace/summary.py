"""Turn live tensors into :class:`~gradtrace.model.TensorSummary` records, many at a time.

# NOTE [why summaries are batched]
# Computing min/max/mean/norm eagerly for every tensor an op makes costs 9-22 us each and made a
# 20-layer MLP several times slower. The recorder therefore keeps detached references while the
# traced code runs and summarises them all here, once, when the trace ends.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from gradtrace.model import Stats, TensorSummary

__all__ = ["DEFAULT_KEEP_LIMIT", "summarize", "stats_of", "dtype_name"]

#: Tensors with at most this many elements are copied whole into the Trace.
DEFAULT_KEEP_LIMIT = 4096


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
        out = []
        for t, k, mine in zip(tensors, kept, owned):
            out.append(TensorSummary(
                tuple(t.shape), dtype_name(t.dtype), str(t.device),
                values=t.to("cpu", copy=not mine) if k else None,
                stats=None if k else next(stats)))
        return out


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
    return t.permute(sorted(range(t.dim()), key=lambda d: -t.stride(d)))


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
    lo, hi, mean, norm = torch.stack([x.min(), x.max(), x.mean(), torch.linalg.vector_norm(x)]).tolist()
    return Stats(lo, hi, mean, norm, nan, inf)
