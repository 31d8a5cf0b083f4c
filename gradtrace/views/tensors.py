"""The rows of the tensors section, shared by the text and HTML reports and ``Trace.tensors``.

One row per tensor name, for its latest step: the name, its shape, a preview of its value and of
its gradient (summed over the traced backward passes; ``""`` when none reached it).

Example:
    >>> import torch
    >>> from gradtrace.model.trace import ForwardStep, TensorSummary, Trace
    >>> x = ForwardStep(step=1, name="x", op="tensor", inputs=(),
    ...                 value=TensorSummary.of(torch.tensor([3.0])))
    >>> tensor_rows(Trace(steps=(x,)))
    [['x', '(1,)', '3.0000', '']]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gradtrace.model.errors import TraceLookupError
from gradtrace.model.records import TensorSummary
from gradtrace.views.format import format_shape, format_value

if TYPE_CHECKING:
    from gradtrace.model.trace import ForwardStep, Trace

__all__ = ["TENSOR_COLUMNS", "tensor_rows", "grad_text"]

TENSOR_COLUMNS = ["name", "shape", "value", "grad"]


def tensor_rows(trace: Trace) -> list[list[str]]:
    """One row of :data:`TENSOR_COLUMNS` per name in ``trace``, in order of first appearance."""
    rows = []
    for name in trace.names:
        s = trace.step(name)
        rows.append([name, format_shape(s.value.shape), format_value(s.value),
                     grad_text(trace, s)])
    return rows


def grad_text(trace: Trace, step: ForwardStep) -> str:
    """The gradient of ``step``'s name as a preview: summed over the passes when the whole
    gradients were kept, else the latest one that arrived; ``""`` when none did."""
    try:
        grad = trace.grad(step.name)
    except TraceLookupError:  # only summaries were kept: show the latest one
        last = _last_grad(trace, step)
        return "" if last is None else format_value(last)
    return "" if grad is None else format_value(TensorSummary.of(grad))


def _last_grad(trace: Trace, step: ForwardStep) -> TensorSummary | None:
    found = None
    for b in trace.backward_steps:
        if b.kind != "inner" and b.forward_step == step.step and b.grad_in is not None:
            found = b.grad_in
    return found
