"""The values a trace keeps while the traced code runs, and their summaries.

# NOTE [what is kept, and why]
# Small tensors are copied whole, up to a budget of elements per trace, so that a trace of
# thousands of small tensors stays a few megabytes. A big float tensor in CPU memory is
# summarised at once with NumPy (:func:`~gradtrace.model.stats.host_stats`): it is still in cache,
# and nothing is held. A small one past the budget is held as a detached alias and summarised
# with others once 64K elements wait (:meth:`Keeper._summarise_pending`): NumPy's cost per call,
# not the arithmetic, is most of what one tensor of a few thousand elements costs. Any other big
# tensor (on a GPU, or of another dtype) would cost a kernel launch per statistic if summarised
# as it is made, so a detached alias is held and :meth:`Keeper.finish` summarises all of them in
# one batch. An alias sees later in-place changes, so the recorder calls :meth:`Keeper.freeze`
# just before any in-place op (and before a backward pass adds into a ``.grad``) to summarise the
# old value first; a ``.grad``, which torch itself writes (DDP's all-reduce), is summarised as it
# is kept (:meth:`Keeper.keep_settled`). An alias whose version
# changed anyway (a write the recorder cannot see: a C++ kernel, an op run with torch functions
# disabled) is summarised as unknown, never with the newer values. Big tensors are keyed by the
# elements of memory they hold (:func:`_key`): the gradient a node sends is often the one the
# next node receives, or a reshaped or transposed view of it, and is summarised once. A summary
# made at once holds no tensor, so its memory may be freed and reused for a new tensor of the
# same shape: a weak reference to the tensor that owns that memory (the summarised tensor, or
# the base it is a view of) tells them apart (:func:`_memory_ref`).
#
# NOTE [what users read is kept]
# Users read the end of a run: the last iteration's values, a parameter as the loop left it,
# its final ``.grad``. So the copy budget is spent newest first: once it is used up, the oldest
# copies are summarised (64K elements at a time, in one batch) to make room (:meth:`_evict`).
# When the trace stops, the latest version of each leaf, parameter and named tensor still alive
# and unchanged, and each leaf's final ``.grad``, is copied whole (:meth:`Keeper.keep_final`) up
# to 16,384 elements each and 2**18 elements in all: makemore part 3's 47K parameters and their
# gradients fit, a 20-layer MLP's 256x256 weights (65,536 elements each) stay summaries. Sparse
# tensors are copied dense.
"""

from __future__ import annotations

import weakref
from collections import deque
from dataclasses import replace
from typing import Any, NamedTuple

import torch

from gradtrace.capture.summaries import (
    DEFAULT_KEEP_BUDGET,
    DEFAULT_KEEP_LIMIT,
    summarize,
    summarize_copies,
)
from gradtrace.model.records import TensorSummary, make
from gradtrace.model.stats import (
    HOST_DTYPES,
    Stats,
    device_row,
    dtype_name,
    host_readable,
    host_stats,
    quick_row,
    stats_from_quick,
    stats_from_row,
    stats_of_copies,
    stats_of_many,
)

__all__ = ["Keeper", "Kept", "Copy", "Held", "Alias", "Frozen", "Quick"]


# CPU tensors up to this many elements that are not copied whole (the copy budget is spent) are
# held and summarised together once this many elements wait: for them, one NumPy call each costs
# more than the arithmetic.
_BATCHED, _BATCH_SIZE = 1 << 12, 1 << 16
# Gradients with at least this many elements are summarised during backward: holding many
# megabytes of gradient costs more (buffers not reused) than a few reductions each.
_SUMMARISE_NOW = 1 << 18
# What the trace ends with (see NOTE [what users read is kept]): the largest tensor copied whole,
# and the most elements in all.
FINAL_LIMIT, FINAL_BUDGET = 1 << 14, 1 << 18


class Copy(NamedTuple):
    """A private copy of a small tensor, kept whole; moved to the CPU by :meth:`Keeper.finish`."""

    tensor: torch.Tensor


class Held(NamedTuple):
    """A detached alias of a big tensor and its version then, summarised by :meth:`Keeper.finish`
    unless it is frozen first (see :meth:`Keeper.freeze`)."""

    tensor: torch.Tensor
    version: int

    def changed(self) -> bool:
        """Whether the tensor was written since it was kept."""
        return self.tensor._version != self.version


class Alias(NamedTuple):
    """Another tensor over the same memory as item ``base``: same statistics, its own shape."""

    base: int
    shape: tuple[int, ...]


class Frozen:
    """Statistics worked out on the tensor's device before it changed; fetched at the end."""

    __slots__ = ("device", "dtype", "row", "shape")

    def __init__(self, t: torch.Tensor) -> None:
        self.row = device_row(t)
        self.shape, self.dtype, self.device = tuple(t.shape), dtype_name(t.dtype), str(t.device)

    def summary(self, row: list[float]) -> TensorSummary:
        """The summary, given ``row`` fetched to the host."""
        return TensorSummary(self.shape, self.dtype, self.device, stats=stats_from_row(row))


class Quick:
    """A gradient's :func:`~gradtrace.model.stats.quick_row`, taken while the backward pass ran;
    fetched at the end."""

    __slots__ = ("device", "dtype", "numel", "row", "shape")

    def __init__(self, t: torch.Tensor) -> None:
        self.row = quick_row(t)
        self.shape, self.dtype, self.device = tuple(t.shape), dtype_name(t.dtype), str(t.device)
        self.numel = t.numel()

    def summary(self, row: list[float]) -> TensorSummary:
        """The summary, given ``row`` fetched to the host."""
        return TensorSummary(self.shape, self.dtype, self.device,
                             stats=stats_from_quick(row, self.numel))


#: What the keeper holds for one kept value until :meth:`Keeper.finish`; a TensorSummary is one
#: made at once (shape only, or a CPU tensor summarised with NumPy).
Kept = Copy | Held | Alias | Frozen | Quick | TensorSummary


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
        self._final_budget = FINAL_BUDGET
        # copies that may be summarised, oldest first, in chunks of about _BATCH_SIZE elements
        self._copies: deque[list[Any]] = deque()  # [elements, items]
        # (id, version) of each gradient copied as it passed (see _copy): the one a node sends
        # is the one the next receives, copied and summarised once
        self._copied: dict[tuple[int, int], tuple[int, Any]] = {}
        self._items: list[Kept] = []
        # memory key -> (item, weakref to the tensor summarised there, or None for an alias held:
        # alive by construction). Memory freed and reused is a new tensor: the weakref tells.
        self._held: dict[tuple[Any, ...], tuple[int, Any]] = {}
        self._pending: list[int] = []  # items held to be summarised together
        self._pending_size = 0  # their elements

    def _small(self, t: torch.Tensor) -> bool:
        return self.keep_limit is None or t.numel() <= self.keep_limit

    def _copy(self, t: torch.Tensor, passing: bool = False) -> int:
        """Copy ``t``. ``passing``: a gradient passing between backward nodes, where the one a
        node sends is the very tensor the next receives: it is copied once (the tensor, alive
        and at the same version). Nowhere else: a write through ``p.data`` or a fused optimizer
        kernel changes a tensor's values without changing its version, so the tensor and its
        version alone cannot tell a value."""
        budget = self._budget
        if budget is None:
            return self._append(Copy(_private(t)))
        # the tensor itself, not its memory: (data_ptr, shape, strides, ...) cost more to
        # read and hash than the copy of a small gradient saves
        seen_as = (id(t), t._version) if passing else None
        if seen_as is not None:
            seen = self._copied.get(seen_as)
            if seen is not None and seen[1]() is t:  # the very tensor, still alive
                return seen[0]
        n = t.numel()
        if n > budget:
            budget += self._evict(n - budget)
        self._budget = budget - n
        items = self._items
        index = len(items)
        items.append(Copy(_private(t)))
        if seen_as is not None:
            self._copied[seen_as] = (index, weakref.ref(t))
        copies = self._copies
        if not copies or copies[-1][0] >= _BATCH_SIZE:
            copies.append([0, []])
        chunk = copies[-1]
        chunk[0] += n
        chunk[1].append(index)
        return index

    def _evict(self, need: int) -> int:
        """Summarise the oldest copies, at least ``need`` elements' worth, a chunk at a time
        (see NOTE [what users read is kept]); returns how many elements were freed."""
        items = self._items
        batch: list[int] = []
        freed = 0
        while self._copies and freed < need:
            size, chunk = self._copies.popleft()
            batch += chunk
            freed += size
        tensors: list[torch.Tensor] = [items[i].tensor for i in batch]  # type: ignore[union-attr]
        done = stats_of_copies(tensors)
        others = [j for j, s in enumerate(done) if s is None]  # not in CPU memory
        for j, s in zip(others, stats_of_many([tensors[j] for j in others])):
            done[j] = s
        for i, t, stats in zip(batch, tensors, done):
            items[i] = make(TensorSummary, shape=tuple(t.shape), dtype=dtype_name(t.dtype),
                            device="cpu" if t.is_cpu else str(t.device), values=None,
                            stats=stats)
        return freed

    def keep_final(self, t: torch.Tensor, index: int | None = None) -> int:
        """Keep what the traced code ends with (see NOTE [what users read is kept]): ``t``
        whole if it fits the final budget. ``index``, if given, is where its current value is
        kept already: returned as it is when that is a whole copy, or when ``t`` does not fit."""
        if index is not None and isinstance(self._items[index], Copy):
            return index
        n = t.numel()
        if not self.record or (index is None and self._small(t)) \
                or n > FINAL_LIMIT or n > self._final_budget:
            return self.keep(t) if index is None else index
        self._final_budget -= n
        return self._append(Copy(_private(t)))

    def keep(self, t: torch.Tensor) -> int:
        """Keep ``t``'s current value; returns its index."""
        if not self.record:
            return self._append(make(TensorSummary, shape=tuple(t.shape),
                                     dtype=dtype_name(t.dtype),
                                     device="cpu" if t.is_cpu else str(t.device)))
        if self._small(t):
            return self._copy(t)
        key = _key(t)
        held = self._held.get(key) if key is not None else None
        if held is None or (held[1] is not None and held[1]() is None):
            if t.numel() <= _BATCHED and host_readable(t):
                base = self._append(Held(t.detach(), t._version))
                self._pending.append(base)
                self._pending_size += t.numel()
                if self._pending_size >= _BATCH_SIZE:
                    self._summarise_pending()
                if key is not None:
                    self._held[key] = (base, _memory_ref(t))
                return base
            stats = host_stats(t)
            if stats is None:
                base, ref = self._append(Held(t.detach(), t._version)), None
            else:
                base = self._append(_cpu_summary(t, stats))
                ref = _memory_ref(t)
            if key is not None:
                self._held[key] = (base, ref)
            return base
        base = held[0]
        if _shape(self._items[base]) == tuple(t.shape):
            return base
        return self._append(Alias(base, tuple(t.shape)))

    def keep_gradient(self, t: torch.Tensor) -> int:
        """Keep a gradient passing through a backward node: a very big one is summarised now.

        Holding big gradients until the trace ends would stop autograd from reusing their
        buffers; NaN and Inf in one summarised now are counted, but its finite statistics are
        not worked out (see NOTE [one NaN/Inf convention] in :mod:`gradtrace.model.stats`).
        """
        if self.record and self.keep_limit is not None and t.numel() <= self.keep_limit:
            return self._copy(t, passing=True)
        if t.numel() < _SUMMARISE_NOW or not self.record \
                or not (t.is_floating_point() and _key(t) is not None) \
                or (t.is_cpu and t.dtype in HOST_DTYPES):
            return self.keep(t)  # small enough that batching costs less, or summarised now
        return self._append(Quick(t))

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
        if held is not None:
            self._summarise_now(held[0])

    def keep_settled(self, t: torch.Tensor) -> int:
        """Keep ``t``'s current value, summarised now rather than held: for a ``.grad``, which
        torch writes outside the traced code's calls (``AccumulateGrad`` adding the next pass,
        DDP's all-reduce), so no :meth:`freeze` comes before the write."""
        index = self.keep(t)
        key = _key(t) if not self._small(t) else None
        held = self._held.get(key) if key is not None else None
        if key is not None and held is not None:
            self._summarise_now(held[0])
            self._held[key] = (held[0], _memory_ref(t))  # nothing holds the memory any more
        return index

    def _summarise_now(self, index: int) -> None:
        item = self._items[index]
        if isinstance(item, Held) and not item.changed():
            stats = host_stats(item.tensor)
            self._items[index] = (Frozen(item.tensor) if stats is None
                                  else _cpu_summary(item.tensor, stats))

    def _summarise_pending(self) -> None:
        """Summarise the small CPU tensors held for a batch (see NOTE [what is kept, and why])."""
        pending, self._pending, self._pending_size = self._pending, [], 0
        items = self._items
        waiting = [(i, x) for i in pending
                   if isinstance(x := items[i], Held) and not x.changed()]
        done = stats_of_copies([x.tensor for _, x in waiting])
        for (i, x), stats in zip(waiting, done):
            if stats is not None:
                items[i] = _cpu_summary(x.tensor, stats)

    def finish(self) -> list[TensorSummary]:
        """The summary of every kept value, by index. Drops all references to tensors."""
        self._summarise_pending()
        items, self._items, self._held = self._items, [], {}
        out: dict[int, TensorSummary] = {
            i: x for i, x in enumerate(items) if isinstance(x, TensorSummary)}
        copies = [(i, x.tensor) for i, x in enumerate(items) if isinstance(x, Copy)]
        for i, x in enumerate(items):
            if isinstance(x, Held) and x.changed():  # written where the recorder cannot see
                out[i] = TensorSummary(tuple(x.tensor.shape), dtype_name(x.tensor.dtype),
                                       str(x.tensor.device))
        held = [(i, x.tensor) for i, x in enumerate(items) if isinstance(x, Held) and i not in out]
        done = summarize_copies([t for _, t in copies]) + summarize([t for _, t in held], 0)
        out.update(zip([i for i, _ in copies + held], done))
        on_device: dict[tuple[type, torch.device], list[tuple[int, Frozen | Quick]]] = {}
        for i, x in enumerate(items):
            if isinstance(x, (Frozen, Quick)):
                on_device.setdefault((type(x), x.row.device), []).append((i, x))
        for group in on_device.values():  # one transfer per kind and device
            rows = torch.stack([x.row for _, x in group]).tolist()
            out.update((i, x.summary(row)) for (i, x), row in zip(group, rows))
        for i, x in enumerate(items):
            if isinstance(x, Alias):
                out[i] = replace(out[x.base], shape=x.shape, values=None)
        return [out[i] for i in range(len(items))]

    def _append(self, item: Kept) -> int:
        self._items.append(item)
        return len(self._items) - 1


def _private(t: torch.Tensor) -> torch.Tensor:
    """A copy of ``t``'s value that nothing else writes to; a sparse tensor's is dense.

    Cloned with gradients off rather than cloned from a detached alias: one tensor made, not
    two (a transformer step copies about 6,000 small tensors)."""
    if t.layout is not _STRIDED and not t.is_nested:
        return t.detach().to_dense()
    if not torch.is_grad_enabled():
        return t.clone()
    torch._C._set_grad_enabled(False)
    try:
        return t.clone()
    finally:
        torch._C._set_grad_enabled(True)


_STRIDED = torch.strided


def _cpu_summary(t: torch.Tensor, stats: Stats) -> TensorSummary:
    return make(TensorSummary, shape=tuple(t.shape), dtype=dtype_name(t.dtype), device="cpu",
                values=None, stats=stats)


def _shape(item: Kept) -> tuple[int, ...]:
    if isinstance(item, (Copy, Held)):
        return tuple(item.tensor.shape)
    return tuple(item.shape)


def _memory_ref(t: torch.Tensor) -> weakref.ref[torch.Tensor]:
    """A weak reference that lives as long as ``t``'s memory: to the tensor that owns it (a
    view's base), which every view keeps alive. A gradient is often passed on as a new view of
    the same memory (``TBackward`` transposes what ``AddmmBackward`` sent, and that view
    becomes ``.grad``) while the view first summarised is gone: the memory, alive and at the
    same version, still holds what was summarised."""
    base = t._base
    return weakref.ref(t if base is None else base)


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
