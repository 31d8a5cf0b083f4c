"""The cells every table of a Trace shows alike: the report's tables and the DataFrames.

A row keeps its record and the strings made from it that the report and the DataFrames both show
(the names of a step's inputs, its shape, a gradient's preview), so the two never disagree; each
adds its own cells to these.

Example:
    >>> import torch
    >>> from gradtrace.model.trace import ForwardStep, TensorSummary, Trace
    >>> x = ForwardStep(step=1, name="x", op="tensor", inputs=(),
    ...                 value=TensorSummary.of(torch.tensor([3.0])))
    >>> row, = tensor_rows(Trace(steps=(x,)))
    >>> row.step.name, row.shape, row.value, row.grad
    ('x', '(1,)', '3.0000', '')
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple

from gradtrace.model.errors import TraceLookupError
from gradtrace.model.records import TensorSummary
from gradtrace.views.format import (
    format_grad_in,
    format_grad_out,
    format_inputs,
    format_shape,
    format_value,
)

if TYPE_CHECKING:
    from gradtrace.model.trace import BackwardStep, ForwardStep, Trace

__all__ = ["ForwardRow", "BackwardRow", "TensorRow", "forward_rows", "backward_rows",
           "tensor_rows", "grad_text"]


class ForwardRow(NamedTuple):
    """A forward step with the names of the tensors it read and its shape."""

    step: ForwardStep
    inputs: str
    shape: str


class BackwardRow(NamedTuple):
    """A backward step with the gradient it received and what it sent on (as
    :func:`~gradtrace.views.format.format_grad_in` and ``format_grad_out`` write them)."""

    step: BackwardStep
    grad_in: str
    grad_out: str


class TensorRow(NamedTuple):
    """A tensor name's latest step with its shape and previews of its value and gradient."""

    step: ForwardStep
    shape: str
    value: str
    grad: str


def forward_rows(trace: Trace) -> list[ForwardRow]:
    """One row per forward step, in the order the ops ran."""
    names = {s.step: s.name for s in trace.steps}
    return [ForwardRow(s, format_inputs(s, names), format_shape(s.value.shape))
            for s in trace.steps]


def backward_rows(steps: Iterable[BackwardStep]) -> list[BackwardRow]:
    """One row per backward step (``trace.backward_steps``, or one pass's), in the same order."""
    return [BackwardRow(b, format_grad_in(b), format_grad_out(b)) for b in steps]


def tensor_rows(trace: Trace) -> list[TensorRow]:
    """One row per tensor name, for its latest step, in order of first appearance."""
    rows = []
    for name in trace.names:
        s = trace.step(name)
        rows.append(TensorRow(s, format_shape(s.value.shape), format_value(s.value),
                              grad_text(trace, s)))
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
