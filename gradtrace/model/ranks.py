"""Each parameter of one rank's Trace as the ranks are compared: local gradient, synchronised
gradient, value after the step.

Example:
    >>> from gradtrace.model.trace import Trace
    >>> parameters(Trace())
    []
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from gradtrace.model.records import TensorSummary

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace

__all__ = ["Parameter", "parameters"]


class Parameter(NamedTuple):
    """One parameter on one rank. ``local``: what this rank's backward passes computed
    (None: none reached it); ``grad``: what ``.grad`` held at the end (after DDP's all-reduce
    and anything done to it since); ``synced``: what the last all-reduce gave (None: not seen);
    ``value``: its value at the end (after the optimizer step)."""

    name: str
    rank: int
    local: TensorSummary | None
    grad: TensorSummary | None
    synced: TensorSummary | None
    value: TensorSummary


def parameters(trace: Trace) -> list[Parameter]:
    """Every parameter the trace saw, in the order it first appeared."""
    latest: dict[int, int] = {}  # tensor id -> its latest step
    first: dict[int, str] = {}
    for s in trace.steps:
        if s.origin == "parameter":
            first.setdefault(s.tensor_id, s.name)
            latest[s.tensor_id] = s.step
        elif s.tensor_id in latest:
            latest[s.tensor_id] = s.step
    g = trace.gradients
    out = []
    for tid, name in first.items():
        at = latest[tid]
        synced = g.synced(at)
        out.append(Parameter(name, trace.rank, g.local(at), g.held(at),
                             synced[-1].grad if synced else None, trace.steps[at - 1].value))
    return out
