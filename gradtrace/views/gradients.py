"""Which gradient each forward step shows, and its preview: read from
:class:`~gradtrace.model.gradients.Gradients`, the one source the tables, the report and the graph
share with ``Trace.grad``.

Example:
    >>> import torch
    >>> from gradtrace.model.records import TensorSummary
    >>> a, b = (TensorSummary.of(torch.tensor([v])) for v in (1.0, 2.5))
    >>> grad_preview([a, b], summed([a, b]))
    '3.5000 = 1.0000 + 2.5000'
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gradtrace.model.gradients import summed
from gradtrace.views.format import format_value

if TYPE_CHECKING:
    from gradtrace.model.records import TensorSummary
    from gradtrace.model.trace import Trace

__all__ = ["step_gradients", "grad_preview", "summed"]


def step_gradients(trace: Trace) -> dict[int, TensorSummary]:
    """The gradient each forward step shows; steps with none are missing."""
    index = trace.gradients
    return {s.step: g for s in trace.steps if (g := index.total(s.step)) is not None}


def grad_preview(parts: list[TensorSummary], total: TensorSummary | None, *,
                 shape: bool = False) -> str:
    """``total`` as text, with the passes it sums when they are short: ``"-0.1956 = -0.0978 +
    -0.0978"``; ``"None"`` when there is none."""
    if total is None:
        return "None"
    text = format_value(total, shape=shape)
    if len(parts) < 2:
        return text
    if total.values is None and total.norm is None:
        return f"{format_value(parts[-1], shape=shape)} (last of {len(parts)})"
    shown = [format_value(g, shape=shape) for g in parts]
    if len(shown) <= 3 and all(len(p) <= 10 for p in shown):
        return f"{text} = {' + '.join(shown)}"
    return f"{text} (sum of {len(parts)})"
