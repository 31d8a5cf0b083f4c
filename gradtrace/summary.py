"""Turn live tensors into :class:`~gradtrace.model.TensorSummary` records, many at a time.

# NOTE [why summaries are batched]
# Computing min/max/mean/norm eagerly for every tensor an op makes costs 9-22 us each and made a
# 20-layer MLP several times slower. The recorder therefore keeps detached references while the
# traced code runs and summarises them all here, once, when the trace ends.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence

import torch

from gradtrace.model import TensorSummary

__all__ = ["DEFAULT_KEEP_LIMIT", "Keeper", "summarize", "dtype_name"]

#: Tensors with at most this many elements are copied whole into the Trace.
DEFAULT_KEEP_LIMIT = 4096


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def summarize(tensors: Sequence[torch.Tensor], keep_limit: int | None = DEFAULT_KEEP_LIMIT
              ) -> list[TensorSummary]:
    """Summarise each tensor; copy it whole when it has at most ``keep_limit`` elements.

    Args:
        tensors: live tensors (they are read, never modified).
        keep_limit: largest element count copied whole; None keeps every tensor whole.

    Returns:
        One summary per tensor, in order.

    Example:
        >>> s = summarize([torch.tensor([1.0, float("nan"), 3.0])])[0]
        >>> (s.shape, s.min, s.max, s.nan)
        ((3,), 1.0, 3.0, 1)
    """
    with torch._C.DisableTorchFunction(), torch.no_grad():
        tensors = [t.detach() for t in tensors]
        stats = _stats(tensors)
        out = []
        for t, st in zip(tensors, stats):
            base = dict(shape=tuple(t.shape), dtype=dtype_name(t.dtype), device=str(t.device))
            if _plain(t) and (keep_limit is None or t.numel() <= keep_limit):
                base["values"] = t.to("cpu", copy=True)
            out.append(TensorSummary(**base, **st))  # type: ignore[arg-type]
        return out


def _plain(t: torch.Tensor) -> bool:
    return t.layout == torch.strided and t.device.type != "meta" and not t.is_nested


def _stats(tensors: list[torch.Tensor]) -> list[dict[str, float | int | None]]:
    """min/max/mean/norm over finite elements and nan/inf counts, for many tensors at once.

    Float tensors go through one batched ``_foreach_norm``; a finite norm proves there is no NaN
    or Inf, so only the rare non-finite tensor pays for counting them.
    """
    out: list[dict[str, float | int | None]] = [{} for _ in tensors]
    fast = [i for i, t in enumerate(tensors) if _plain(t) and t.numel()
            and t.dtype in (torch.float32, torch.float64)]
    slow = [i for i, t in enumerate(tensors) if _plain(t) and t.numel() and i not in set(fast)]
    if fast:
        norms = torch._foreach_norm([tensors[i] for i in fast])
        parts = []
        for i, n in zip(fast, norms):
            lo, hi = torch.aminmax(tensors[i])
            parts.append(torch.stack([lo, hi, tensors[i].mean(), n]).double())
        for i, (lo, hi, mean, norm) in zip(fast, torch.stack(parts).tolist()):
            if abs(norm) == float("inf") or norm != norm:
                slow.append(i)
            else:
                out[i] = dict(min=lo, max=hi, mean=mean, norm=norm)
    for i in slow:
        out[i] = _stats_one(tensors[i])
    return out


def _stats_one(x: torch.Tensor) -> dict[str, float | int | None]:
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
        return dict(nan=nan, inf=inf)
    lo, hi, mean, norm = torch.stack([x.min(), x.max(), x.mean(), torch.linalg.vector_norm(x)]).tolist()
    return dict(min=lo, max=hi, mean=mean, norm=norm, nan=nan, inf=inf)


class Keeper:
    """Holds what the recorder must summarise later, and summarises it all in one go.

    ``keep`` stores a copy of a small tensor or a detached reference to a big one and returns an
    index; ``snapshot`` is for values that will change in place before the trace ends (a leaf's
    ``.grad``), so big ones are summarised at once; ``freeze`` does the same for a kept reference
    whose tensor is about to be modified in place.
    """

    def __init__(self, keep_limit: int | None = DEFAULT_KEEP_LIMIT) -> None:
        self.keep_limit = keep_limit
        self._items: list[torch.Tensor | TensorSummary] = []
        self._held: dict[int, tuple[int, weakref.ref[torch.Tensor], int]] = {}

    def _small(self, t: torch.Tensor) -> bool:
        return self.keep_limit is None or t.numel() <= self.keep_limit

    def keep(self, t: torch.Tensor) -> int:
        if self._small(t):
            self._items.append(t.detach().clone())
            return len(self._items) - 1
        # The gradient a node sends is often the very tensor the next node receives: keep it
        # once. A detached alias is held, so the autograd graph behind ``t`` is not kept alive.
        held = self._held.get(id(t))
        if held is not None and held[1]() is t and held[2] == t._version:
            return held[0]
        self._items.append(t.detach())
        index = len(self._items) - 1
        self._held[id(t)] = (index, weakref.ref(t), t._version)
        return index

    def snapshot(self, t: torch.Tensor) -> int:
        t = t.detach()
        self._items.append(t.clone() if self._small(t) else summarize([t], self.keep_limit)[0])
        return len(self._items) - 1

    def freeze(self, index: int) -> None:
        item = self._items[index]
        if isinstance(item, torch.Tensor) and not self._small(item):
            self._items[index] = summarize([item], self.keep_limit)[0]

    def finish(self) -> list[TensorSummary]:
        """Summaries of everything kept, by index; drops every tensor reference."""
        items, self._items, self._held = self._items, [], {}
        live = [i for i, x in enumerate(items) if isinstance(x, torch.Tensor)]
        done = summarize([items[i] for i in live], self.keep_limit)  # type: ignore[misc]
        for i, s in zip(live, done):
            items[i] = s
        return items  # type: ignore[return-value]
