"""Which gradient a tensor shows: what reached its forward step, summed over the backward passes.

The report's previews, the DataFrames' ``grad_*`` columns and the graph's labels read the same
summaries from here, gathered in one walk over the backward steps.

# NOTE [a sum of summaries]
# When the whole per-pass gradients were kept, the sum is a tensor and its statistics are exact.
# When only summaries were kept (big tensors), the sum of several passes cannot be rebuilt: its
# min, max and norm are unknown (None, NaN in a DataFrame). Its mean is still the sum of the
# means when every pass was finite; NaN and Inf counts are the largest of any pass (a NaN stays
# NaN when added to). The text report shows the latest pass's gradient in that case instead.

Example:
    >>> import torch
    >>> from gradtrace.model.records import TensorSummary
    >>> a, b = (TensorSummary.of(torch.tensor([v])) for v in (1.0, 2.5))
    >>> summed([a, b]).values
    tensor([3.5000])
    >>> big = [TensorSummary.of(torch.tensor([v]), keep=False) for v in (1.0, 2.5)]
    >>> total = summed(big)
    >>> total.mean, total.norm
    (3.5, None)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gradtrace.model.records import Stats, TensorSummary, make

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace

__all__ = ["received", "summed", "step_gradients"]


def received(trace: Trace) -> dict[int, list[TensorSummary]]:
    """The gradients that reached each forward step, one per node run or capture, in order.

    A node inside a composite op (``kind="inner"``) is left out: its gradient is not the op's
    output's. A node with several outputs gives each of its other outputs theirs.
    """
    out: dict[int, list[TensorSummary]] = {}
    for b in trace.backward_steps:
        if b.kind == "inner":
            continue
        if b.forward_step is not None and b.grad_in is not None:
            out.setdefault(b.forward_step, []).append(b.grad_in)
        for e in b.other_outputs:
            if e.step is not None and e.grad is not None:
                out.setdefault(e.step, []).append(e.grad)
    return out


def summed(grads: list[TensorSummary]) -> TensorSummary | None:
    """The sum of one step's per-pass gradients (see NOTE); None when there are none."""
    if len(grads) < 2:
        return grads[0] if grads else None
    kept = [g.values for g in grads if g.values is not None]
    last = grads[-1]
    if len(kept) == len(grads):
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


def step_gradients(trace: Trace) -> dict[int, TensorSummary]:
    """The gradient each forward step received, summed over the traced backward passes.

    Steps no gradient reached are missing. A ``.grad`` the tensor held before the trace is not
    counted.
    """
    return {step: total for step, grads in received(trace).items()
            if (total := summed(grads)) is not None}
