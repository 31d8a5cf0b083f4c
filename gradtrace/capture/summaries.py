"""Turn live tensors into :class:`~gradtrace.model.records.TensorSummary` records, many at a time.

# NOTE [why summaries are batched]
# Computing min/max/mean/norm eagerly for every tensor an op makes costs 9-22 us each and made a
# 20-layer MLP several times slower. The recorder therefore keeps detached references while the
# traced code runs and summarises them all here, once, when the trace ends.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from gradtrace.model.records import TensorSummary, make
from gradtrace.model.stats import dtype_name, has_dense_values, stats_of_copies, stats_of_many

__all__ = ["DEFAULT_KEEP_LIMIT", "DEFAULT_KEEP_BUDGET", "VALUES", "summarize",
           "summarize_copies"]

#: Tensors with at most this many elements are copied whole into the Trace...
DEFAULT_KEEP_LIMIT = 4096
#: ...until the copies of one trace hold this many elements (4 MiB of float32); then summarised.
DEFAULT_KEEP_BUDGET = 1 << 20
#: What a trace keeps of each tensor (the ``values=`` option).
VALUES = ("summary", "full", "none")


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
        kept = [has_dense_values(t) and (keep_limit is None or t.numel() <= keep_limit)
                for t in tensors]
        stats = iter(stats_of_many([t for t, k in zip(tensors, kept) if not k]))
        whole = _to_cpu([t for t, k in zip(tensors, kept) if k],
                        [m for m, k in zip(owned, kept) if k])
        # the copies' statistics in one batch; any it cannot do are worked out when first read
        copies = iter(zip(whole, stats_of_copies(whole)))
        out = []
        for t, k in zip(tensors, kept):
            values, own = next(copies) if k else (None, next(stats))
            out.append(make(
                TensorSummary, shape=tuple(t.shape), dtype=dtype_name(t.dtype),
                device=str(t.device), values=values, stats=own))
        return out


def summarize_copies(copies: Sequence[torch.Tensor]) -> list[TensorSummary]:
    """``summarize(copies, None, owned=...)`` for private dense copies (what the recorder's
    keeper copied): each is kept whole, with its statistics worked out in one batch.

    The recorder copies a few hundred small tensors per step; checking each again, as
    :func:`summarize` does for any tensor, cost as much as their statistics.
    """
    with torch._C.DisableTorchFunction():
        if not all(t.is_cpu and t.layout is _STRIDED and not t.is_nested for t in copies):
            return summarize(copies, None, owned=[True] * len(copies))  # on a device, or odd
        return [make(TensorSummary, shape=tuple(t.shape), dtype=dtype_name(t.dtype),
                     device="cpu", values=t, stats=own)
                for t, own in zip(copies, stats_of_copies(copies))]


_STRIDED = torch.strided


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
