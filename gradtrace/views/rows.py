"""The cells the report's tables of a Trace show: forward steps, backward steps, tensors.

A row keeps its record and the strings made from it that the text and HTML reports show (the
names of a step's inputs, its shape, a gradient's preview). Which gradient a tensor shows comes
from :mod:`~gradtrace.views.gradients`, as the DataFrames' ``grad_*`` columns do.

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

from gradtrace.views.format import (
    format_grad_in,
    format_grad_out,
    format_inputs,
    format_shape,
    format_value,
)

if TYPE_CHECKING:
    from gradtrace.model.records import TensorSummary
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
    index = trace.gradients
    rows = []
    for name in trace.names:
        s = trace.step(name)
        rows.append(TensorRow(s, format_shape(s.value.shape), format_value(s.value),
                              grad_text(index.parts(s.step), index.total(s.step))))
    return rows


def grad_text(parts: list[TensorSummary], total: TensorSummary | None) -> str:
    """A preview of the gradient a step shows (``total``, summing ``parts``, see
    :class:`~gradtrace.model.gradients.Gradients`): the latest part when only summaries were
    kept and the sum's statistics are unknown; ``""`` when there is none."""
    if total is None:
        return ""
    if total.values is None and total.norm is None and len(parts) > 1:
        return format_value(parts[-1])
    return format_value(total)
