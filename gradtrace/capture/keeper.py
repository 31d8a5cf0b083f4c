"""The values a trace keeps while the traced code runs, and their summaries.

# NOTE [what is kept, and why]
# Small tensors are copied whole, up to a budget of elements per trace, so that a trace of
# thousands of small tensors stays a few megabytes. A big float tensor in CPU memory is
# summarised at once with NumPy (:func:`~gradtrace.model.stats.host_stats`): it is still in cache,
# and nothing is held. Any other big tensor (on a GPU, or of another dtype) would cost a kernel
# launch per statistic if summarised as it is made, so a detached alias is held and
# :meth:`Keeper.finish` summarises all of them in one batch. An alias sees later in-place
# changes, so the recorder calls :meth:`Keeper.freeze` just before any in-place op (and before a
# backward pass adds into a ``.grad``) to summarise the old value first. Big tensors are keyed
# by the elements of memory they hold (:func:`_key`): the gradient a node sends is often the one
# the next node receives, or a reshaped or transposed view of it, and is summarised once. A
# summary made at once holds no tensor, so its memory may be freed and reused for a new tensor
# of the same shape: a weak reference to the tensor it summarised tells them apart.
"""

from __future__ import annotations

import weakref
from dataclasses import replace
from typing import Any

import torch

from gradtrace.model.records import TensorSummary, make
from gradtrace.model.stats import (
    DEFAULT_KEEP_BUDGET,
    DEFAULT_KEEP_LIMIT,
    HOST_DTYPES,
    device_stats,
    dtype_name,
    host_stats,
    quick_stats,
    stats_from_quick,
    stats_from_row,
    summarize,
)

__all__ = ["Keeper"]


# Gradients with at least this many elements are summarised during backward: holding many
# megabytes of gradient costs more (buffers not reused) than a few reductions each.
_SUMMARISE_NOW = 1 << 18


class _Alias:
    """Another tensor over the same memory as item ``base``: same statistics, its own shape."""

    __slots__ = ("base", "shape")

    def __init__(self, base: int, shape: tuple[int, ...]) -> None:
        self.base, self.shape = base, shape


class _Frozen:
    """Statistics worked out on the tensor's device before it changed; fetched at the end."""

    __slots__ = ("device", "dtype", "row", "shape")

    def __init__(self, t: torch.Tensor) -> None:
        self.row = device_stats(t)
        self.shape, self.dtype, self.device = tuple(t.shape), dtype_name(t.dtype), str(t.device)


class _Quick:
    """A gradient's :func:`quick_stats`, taken while the backward pass ran; fetched at the end."""

    __slots__ = ("device", "dtype", "numel", "row", "shape")

    def __init__(self, t: torch.Tensor) -> None:
        self.row = quick_stats(t)
        self.shape, self.dtype, self.device = tuple(t.shape), dtype_name(t.dtype), str(t.device)
        self.numel = t.numel()


class Keeper:
    """Keeps values by index: ``keep`` now, ``finish`` for every summary at the end.

    Args:
        keep_limit: largest tensor copied whole; None copies every tensor whole.
        budget: most elements copied whole in all; later small tensors are summarised.
        record: False keeps only each tensor's shape, dtype and device.

    Example:
        >>> k = Keeper(keep_limit=4)
        >>> big = torch.arange(10.0)
        >>> i, j = k.keep(torch.tensor([1.0, 2.0])), k.keep(big)
        >>> k.freeze(big); _ = big.mul_(2)
        >>> summaries = k.finish()
        >>> summaries[i].values.tolist(), summaries[j].max
        ([1.0, 2.0], 9.0)
    """

    def __init__(self, keep_limit: int | None = DEFAULT_KEEP_LIMIT,
                 budget: int | None = DEFAULT_KEEP_BUDGET, record: bool = True) -> None:
        self.keep_limit = keep_limit
        self.record = record
        self._budget = None if keep_limit is None else budget  # elements still to copy
        self._items: list[Any] = []  # a tensor, a TensorSummary, or an _Alias
        self._owned: set[int] = set()  # items that are private copies
        # memory key -> (item, weakref to the tensor summarised there, or None for an alias held:
        # alive by construction). Memory freed and reused is a new tensor: the weakref tells.
        self._held: dict[tuple[Any, ...], tuple[int, Any]] = {}

    def _small(self, t: torch.Tensor) -> bool:
        if self.keep_limit is None:
            return True
        n = t.numel()
        return n <= self.keep_limit and (self._budget is None or n <= self._budget)

    def _copy(self, t: torch.Tensor) -> int:
        if self._budget is not None:
            self._budget -= t.numel()
        return self._append(t.detach().clone(), owned=True)

    def keep(self, t: torch.Tensor) -> int:
        """Keep ``t``'s current value; returns its index."""
        if not self.record:
            return self._append(TensorSummary(tuple(t.shape), dtype_name(t.dtype), str(t.device)))
        if self._small(t):
            return self._copy(t)
        key = _key(t)
        held = self._held.get(key) if key is not None else None
        if held is None or (held[1] is not None and held[1]() is None):
            stats = host_stats(t)
            if stats is None:
                base, ref = self._append(t.detach()), None
            else:
                base = self._append(make(TensorSummary, shape=tuple(t.shape),
                                         dtype=dtype_name(t.dtype), device="cpu", values=None,
                                         stats=stats))
                ref = weakref.ref(t)
            if key is not None:
                self._held[key] = (base, ref)
            return base
        base = held[0]
        if tuple(self._items[base].shape) == tuple(t.shape):
            return base
        return self._append(_Alias(base, tuple(t.shape)))

    def keep_gradient(self, t: torch.Tensor) -> int:
        """Keep a gradient passing through a backward node: a very big one is summarised now.

        Holding big gradients until the trace ends would stop autograd from reusing their
        buffers; NaN and Inf in one summarised now are reported but not counted.
        """
        if t.numel() < _SUMMARISE_NOW or not self.record \
                or not (t.is_floating_point() and _key(t) is not None) \
                or (t.is_cpu and t.dtype in HOST_DTYPES):
            return self.keep(t)  # small enough that batching costs less, or summarised now
        return self._append(_Quick(t))

    def snapshot(self, t: torch.Tensor) -> int:
        """Keep a value that is about to change in place (a ``.grad`` that will be added to)."""
        if self._small(t) and self.record:
            return self._copy(t)
        index = self.keep(t)
        self.freeze(t)
        return index

    def freeze(self, t: torch.Tensor) -> None:
        """``t`` is about to change in place: summarise any alias of it that is held now."""
        key = _key(t) if not self._small(t) else None
        held = self._held.pop(key, None) if key is not None else None
        if held is not None and isinstance(self._items[held[0]], torch.Tensor):
            self._items[held[0]] = _Frozen(self._items[held[0]])

    def finish(self) -> list[TensorSummary]:
        """The summary of every kept value, by index. Drops all references to tensors."""
        items, self._items, self._held = self._items, [], {}
        live = [i for i, x in enumerate(items) if isinstance(x, torch.Tensor)]
        copies = [i for i in live if i in self._owned]
        held = [i for i in live if i not in self._owned]  # too big to copy, or past the budget
        done = (summarize([items[i] for i in copies], None, owned=[True] * len(copies))
                + summarize([items[i] for i in held], 0))
        for i, s in zip(copies + held, done):
            items[i] = s
        by_device: dict[tuple[type, torch.device], list[int]] = {}
        for i, x in enumerate(items):
            if isinstance(x, (_Frozen, _Quick)):
                by_device.setdefault((type(x), x.row.device), []).append(i)
        for (kind, _), index in by_device.items():  # one transfer per kind and device
            rows = torch.stack([items[i].row for i in index]).tolist()
            for i, row in zip(index, rows):
                x = items[i]
                stats = (stats_from_row(row) if kind is _Frozen
                         else stats_from_quick(row, x.numel))
                items[i] = TensorSummary(x.shape, x.dtype, x.device, stats=stats)
        for i, x in enumerate(items):
            if isinstance(x, _Alias):
                items[i] = replace(items[x.base], shape=x.shape, values=None)
        self._owned = set()
        return items

    def _append(self, item: Any, owned: bool = False) -> int:
        self._items.append(item)
        if owned:
            self._owned.add(len(self._items) - 1)
        return len(self._items) - 1


def _key(t: torch.Tensor) -> tuple[Any, ...] | None:
    """Which elements of which memory ``t`` holds: views that hold the same ones (a reshape, a
    transpose) have the same statistics and share one summary."""
    if t.layout != torch.strided or t.is_meta or t.is_nested:
        return None
    where = (t.data_ptr(), t.get_device(), t._version, t.numel(), t.dtype)
    if t.is_contiguous():
        return where  # every element of the block: any dense view holds the same
    dims = sorted((stride, size) for stride, size in zip(t.stride(), t.shape) if size != 1)
    expected = 1
    for stride, size in dims:
        if stride != expected:
            return (*where, *dims)  # gaps or repeats: this layout's elements only
        expected *= size
    return where
