"""Which gradients reached a tensor, in which pass, and what its ``.grad`` held.

A tensor may have several versions (a parameter an optimizer updated, a tensor changed in place):
a leaf's versions share ``ForwardStep.tensor_id`` and one ``.grad``. :class:`Gradients` reads a
Trace once and answers, for any forward step, what reached it and what it shows; ``Trace.grad``,
the tables and the graph all read it, so they agree.

# NOTE [honest gradients]
# A gradient gradtrace shows must be one the code's ``.grad`` really held. For the latest version
# of a leaf that is the ``.grad`` read when the traced code ended (``TraceRecords.leaf_grads``),
# less what it held before the trace if nothing reset it inside the trace; passes of
# ``torch.autograd.grad`` never add to a leaf's ``.grad``. An earlier version (a parameter before
# an optimizer step) shows what reached it while it was current, since its last reset: what the
# step used. A non-leaf shows what ``retain_grad()`` would have put there: what reached that very
# step since the last reset, in every pass (its hook runs in ``torch.autograd.grad`` too).
# Under DDP an all-reduce row sets ``.grad`` to the synchronised gradient of the passes before
# it: an earlier version shows that, plus what arrived after; :meth:`Gradients.local` shows what
# this rank's own passes sent, before any synchronisation.

Example:
    >>> import torch
    >>> from gradtrace.model.records import TensorSummary
    >>> a, b = (TensorSummary.of(torch.tensor([v])) for v in (1.0, 2.5))
    >>> summed([a, b]).values
    tensor([3.5000])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from gradtrace.model.records import Stats, TensorSummary, make

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace

__all__ = ["Arrival", "Gradients", "summed"]

#: Backward step kinds whose ``grad_in`` is the gradient of the tensor itself.
_OWN = ("node", "accumulate", "capture")
_END = 1 << 62  # a pass number after every pass


class Arrival(NamedTuple):
    """One gradient that reached a tensor: in which pass, at which backward step."""

    backward_pass: int
    step: int
    grad: TensorSummary


class Gradients:
    """The gradients of every forward step of one Trace, read in one walk (see NOTE)."""

    def __init__(self, trace: Trace) -> None:
        self._backward_steps = trace.backward_steps  # not the Trace: it caches this index
        self._key: dict[int, int] = {}  # step -> its tensor: a leaf's id, else -step
        self._versions: dict[int, list[int]] = {}
        for s in trace.steps:
            key = s.tensor_id if s.is_leaf and s.tensor_id else -s.step
            self._key[s.step] = key
            self._versions.setdefault(key, []).append(s.step)
        self._arrivals: dict[int, list[Arrival]] = {}
        self._synced: dict[int, list[Arrival]] = {}  # key -> what each all-reduce set
        self._reduced: dict[int, list[Arrival]] = {}  # key -> the local gradient it reduced
        for b in trace.backward_steps:
            if b.kind == "all_reduce":
                for into, edges in ((self._synced, b.grad_out), (self._reduced, b.local)):
                    for e in edges:
                        if e.step in self._key and e.grad is not None:
                            into.setdefault(self._key[e.step], []).append(
                                Arrival(b.backward_pass, b.step, e.grad))
                continue
            if b.kind in _OWN and b.forward_step in self._key and b.grad_in is not None:
                self._add(b.forward_step, Arrival(b.backward_pass, b.step, b.grad_in))
            for e in b.other_outputs:
                if e.step in self._key and e.grad is not None:
                    self._add(e.step, Arrival(b.backward_pass, b.step, e.grad))
        self._resets: dict[int, list[int]] = {}  # key -> passes begun when .grad was reset
        self._made: dict[int, int] = {}  # an optimizer's new version -> passes begun by then
        for ev in trace.events:
            if ev.kind == "grad_reset" and ev.step in self._key:
                self._resets.setdefault(self._key[ev.step], []).append(ev.data.get("pass", 0))
            elif ev.kind == "optimizer_step":
                for made in ev.data.get("steps", ()):
                    self._made[made] = ev.data.get("pass", 0)
        self._end = {self._key[g.step]: g.grad for g in trace.leaf_grads if g.step in self._key}
        self._only_returned = {p.index for p in trace.passes if p.call == "autograd.grad"}

    def _add(self, step: int, arrival: Arrival) -> None:
        self._arrivals.setdefault(self._key[step], []).append(arrival)

    def arrivals(self, step: int) -> list[Arrival]:
        """Every gradient that reached the tensor of ``step`` (all versions of a leaf)."""
        return self._arrivals.get(self._key.get(step, 0), [])

    def synced(self, step: int) -> list[Arrival]:
        """What each DDP all-reduce set the ``.grad`` of the tensor of ``step`` to."""
        return self._synced.get(self._key.get(step, 0), [])

    def held(self, step: int) -> TensorSummary | None:
        """What the leaf ``.grad`` of the tensor of ``step`` held when the traced code ended,
        whatever put it there; :meth:`total` for a tensor whose ``.grad`` was not read then."""
        key = self._key.get(step, 0)
        return self._end[key] if key in self._end else self.total(step)

    def local(self, step: int) -> TensorSummary | None:
        """What this rank's own backward passes computed for ``step``, before any all-reduce:
        what the last all-reduce up to this version took from ``.grad`` (gradients summed under
        ``no_sync()`` included), plus what arrived after it; None when no pass reached it here.
        Without DDP, :meth:`total`."""
        if not self._synced:
            return self.total(step)
        key = self._key.get(step)
        if key is None or not self._arrivals.get(key):
            return None
        window = self._window(step)
        end = self._bounds(step)[1]
        reduced = [a for a in self._reduced.get(key, ()) if a.backward_pass <= end]
        if not reduced:
            return summed([a.grad for a in window])
        last = reduced[-1]
        return summed([last.grad, *(a.grad for a in window if a.step > last.step)])

    def parts(self, step: int) -> list[TensorSummary]:
        """The gradients whose sum ``step`` shows, since the last reset (for a leaf, not the
        passes of ``torch.autograd.grad``): what ``.grad`` holds for the latest version, what
        reached an earlier one while it was current (what the optimizer step used)."""
        window = self._window(step)
        key = self._key.get(step)
        if key is None or key not in self._synced:
            return [a.grad for a in window]
        begin, end = self._bounds(step)
        synced = [a for a in self._synced[key] if begin < a.backward_pass <= end]
        if not synced:
            return [a.grad for a in window]
        last = synced[-1]  # .grad holds what it set, and what arrived after it
        return [last.grad, *(a.grad for a in window if a.step > last.step)]

    def _bounds(self, step: int) -> tuple[int, int]:
        key = self._key[step]
        versions = self._versions[key]
        if len(versions) == 1 and key not in self._resets:  # most tensors: every pass counts
            return 0, _END
        at = versions.index(step)
        begin = self._made.get(step, 0) if at + 1 < len(versions) else 0
        end = self._made.get(versions[at + 1], _END) if at + 1 < len(versions) else _END
        return max([begin, *(r for r in self._resets.get(key, ()) if r < end)]), end

    def _window(self, step: int) -> list[Arrival]:
        key = self._key.get(step)
        if key is None or key not in self._arrivals:
            return []
        begin, end = self._bounds(step)
        leaf = key > 0
        return [a for a in self._arrivals.get(key, ())
                if begin < a.backward_pass <= end
                and not (leaf and a.backward_pass in self._only_returned)]

    def total(self, step: int) -> TensorSummary | None:
        """What ``step`` shows as its gradient (see NOTE); None when none arrived."""
        parts = self.parts(step)
        key = self._key.get(step)
        latest = key is not None and self._versions[key][-1] == step
        if not latest or key not in self._end:
            return summed(parts)
        if not parts:  # .grad set to a tensor after the last pass (p.grad *= 2): what it holds
            reset = self._resets.get(key)
            return self._end[key] if reset and self._arrivals.get(key) else None
        end = self._end[key]
        if end is None:  # reset to None after the last pass
            return None
        first = self._first_before(key)
        if first is None or self._resets.get(key):
            return end
        if end.values is not None and first.values is not None and end.shape == first.shape:
            return TensorSummary.of(end.values - first.values)  # less what it held before
        return summed(parts)

    def _first_before(self, key: int) -> TensorSummary | None:
        """What ``.grad`` held before the first traced pass added to it."""
        came = [a for a in self._arrivals.get(key, ())
                if a.backward_pass not in self._only_returned]
        if not came:
            return None
        steps = self._backward_steps
        first = steps[came[0].step - 1] if 0 < came[0].step <= len(steps) else None
        return first.grad_before if first is not None else None


def summed(grads: list[TensorSummary]) -> TensorSummary | None:
    """The sum of per-pass gradients; None when there are none.

    When the whole gradients were kept the sum is a tensor and its statistics are exact. When
    only summaries were kept (big tensors) its min, max and norm are unknown; its mean is still
    the sum of the means when every pass was finite, and NaN and Inf counts are the largest of
    any pass (a NaN stays NaN when added to).
    """
    if len(grads) < 2:
        return grads[0] if grads else None
    kept = [g.values for g in grads if g.values is not None]
    last = grads[-1]
    if len(kept) == len(grads) and all(g.shape == last.shape for g in grads):
        total = kept[0].clone()
        for values in kept[1:]:
            total = total + values
        return make(TensorSummary, shape=last.shape, dtype=last.dtype, device=last.device,
                    values=total, stats=None)
    means = [g.mean for g in grads]
    finite = all(g.finite for g in grads) and all(m is not None for m in means)
    mean = sum(m for m in means if m is not None) if finite else None
    stats = Stats(mean=mean, nan=max(g.nan for g in grads), inf=max(g.inf for g in grads))
    return make(TensorSummary, shape=last.shape, dtype=last.dtype, device=last.device,
                values=None, stats=stats)
