"""Turn live tensors into :class:`~gradtrace.model.TensorSummary` records, many at a time.

# NOTE [why summaries are batched]
# Computing min/max/mean/norm eagerly for every tensor an op makes costs 9-22 us each and made a
# 20-layer MLP several times slower. The recorder therefore keeps detached references while the
# traced code runs and summarises them all here, once, when the trace ends.
"""

from __future__ import annotations

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
        return [_summarize_one(t, keep_limit) for t in tensors]


def _summarize_one(t: torch.Tensor, keep_limit: int | None) -> TensorSummary:
    shape = tuple(t.shape)
    base = dict(shape=shape, dtype=dtype_name(t.dtype), device=str(t.device))
    if t.layout != torch.strided or t.device.type == "meta" or t.is_nested:
        return TensorSummary(**base)  # type: ignore[arg-type]
    t = t.detach()
    numel = t.numel()
    values = None
    if keep_limit is None or numel <= keep_limit:
        values = t.to("cpu", copy=True)
    if numel == 0:
        return TensorSummary(**base, values=values)  # type: ignore[arg-type]
    x = t
    if x.is_complex():
        x = x.abs()
    if x.dtype == torch.bool:
        x = x.to(torch.uint8)
    if not x.is_floating_point():
        x = x.to(torch.float64)
    elif x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    nan_mask = torch.isnan(x)
    inf_mask = torch.isinf(x)
    nan, inf = int(nan_mask.sum()), int(inf_mask.sum())
    if nan or inf:
        x = x[~(nan_mask | inf_mask)]
    if x.numel() == 0:
        return TensorSummary(**base, values=values, nan=nan, inf=inf)  # type: ignore[arg-type]
    stats = torch.stack([x.min(), x.max(), x.mean(), torch.linalg.vector_norm(x)]).tolist()
    return TensorSummary(**base, values=values, min=stats[0], max=stats[1],  # type: ignore[arg-type]
                         mean=stats[2], norm=stats[3], nan=nan, inf=inf)


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

    def _small(self, t: torch.Tensor) -> bool:
        return self.keep_limit is None or t.numel() <= self.keep_limit

    def keep(self, t: torch.Tensor) -> int:
        t = t.detach()
        self._items.append(t.clone() if self._small(t) else t)
        return len(self._items) - 1

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
        items, self._items = self._items, []
        live = [i for i, x in enumerate(items) if isinstance(x, torch.Tensor)]
        done = summarize([items[i] for i in live], self.keep_limit)  # type: ignore[misc]
        for i, s in zip(live, done):
            items[i] = s
        return items  # type: ignore[return-value]
