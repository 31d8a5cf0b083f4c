"""Optimizer steps as rows: one per step and parameter, with the loss and the norms around it.

Read from the ``optimizer_step`` events the recorder makes (see
:mod:`gradtrace.capture.updates`): the norms of the gradient the step used, of the update
``Δp`` it made, and of the parameter after it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, NamedTuple

from gradtrace.model.ledger import tensor_key

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace

__all__ = ["Update", "updates"]


class Update(NamedTuple):
    """One parameter changed by one optimizer step.

    ``call`` counts the optimizer steps (1-based); ``step`` is the forward step of the new
    version; ``backward_pass`` the passes run by then; ``loss`` the value of the last backward
    pass's root (NaN when it was not a kept scalar); ``ratio`` is ``update_norm / value_norm``.
    """

    call: int
    optimizer: str
    parameter: str
    step: int
    backward_pass: int
    loss: float
    grad_norm: float
    update_norm: float
    value_norm: float
    ratio: float
    line: int | None
    passes: int = 0
    before_norm: float = math.nan
    shape: tuple[int, ...] = ()


def updates(trace: Trace) -> list[Update]:
    """Every parameter every optimizer step changed, in order."""
    ledger = trace.ledger
    out = []
    for index, e in enumerate(trace.events):
        if e.kind != "optimizer_step":
            continue
        data = e.data
        loss = _loss(trace, data.get("pass", 0))
        steps = data.get("steps", ())
        norms = zip(steps, data.get("update_norm", ()), data.get("value_norm", ()),
                    data.get("grad_norm", ()), data.get("before_norm", [math.nan] * len(steps)))
        for step, update, value, grad, before in norms:
            ratio = update / value if value else math.nan
            s = trace.steps[step - 1]
            out.append(Update(data.get("call", 0), data.get("optimizer", ""), s.name, step,
                              data.get("pass", 0), loss, grad, update, value, ratio, e.line,
                              ledger.passes_of(index, tensor_key(s)), before, s.value.shape))
    return out


def _loss(trace: Trace, backward_pass: int) -> float:
    if not 0 < backward_pass <= len(trace.passes):
        return math.nan
    roots = trace.passes[backward_pass - 1].roots
    if not roots or not 0 < roots[0] <= len(trace.steps):
        return math.nan
    value = trace.steps[roots[0] - 1].value.values
    return float(value.reshape(-1)[0]) if value is not None and value.numel() == 1 else math.nan
