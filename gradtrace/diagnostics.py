"""Rules that read a finished Trace and say what looks wrong, where, and how to fix it.

Each rule is a plain function ``rule(trace) -> list[Diagnostic]``; :func:`diagnose` runs them all.

Example:
    >>> from gradtrace.model import Trace
    >>> diagnose(Trace())
    []
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from gradtrace.model import Trace

__all__ = ["Diagnostic", "diagnose", "RULES"]


@dataclass(frozen=True)
class Diagnostic:
    """One warning: what kind, a message naming tensor, step and line, and a one-line fix."""

    kind: str
    message: str
    fix: str = ""
    tensor: str | None = None
    step: int | None = None
    backward_step: int | None = None
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}" + (f" {self.fix}" if self.fix else "")


def _fmt(summary: object) -> str:
    from gradtrace.render.format import format_value

    return format_value(summary)  # type: ignore[arg-type]


def accumulation(trace: Trace) -> list[Diagnostic]:
    """A leaf whose ``.grad`` already held a gradient when a traced backward pass added to it."""
    found = []
    passes = {p.index: p for p in trace.passes}
    for b in trace.backward_steps:
        if b.kind != "accumulate" or b.grad_before is None:
            continue
        p = passes.get(b.backward_pass)
        where = f"backward pass {b.backward_pass}" + (f" (line {p.line})" if p and p.line else "")
        before, added = _fmt(b.grad_before), _fmt(b.grad_in)
        after = _fmt(b.grad_after) if b.grad_after is not None else "?"
        found.append(Diagnostic(
            kind="accumulation",
            message=(f"{b.tensor}.grad held {before} before {where} and now holds {after} "
                     f"({before} + {added}): gradients add up in .grad across backward calls."),
            fix=(f"Set {b.tensor}.grad = None (or call optimizer.zero_grad()) before backward "
                 "unless you mean to sum gradients."),
            tensor=b.tensor, step=b.forward_step, backward_step=b.step,
            line=p.line if p else None,
        ))
    return found


RULES: list[Callable[[Trace], list[Diagnostic]]] = [accumulation]


def diagnose(trace: Trace) -> list[Diagnostic]:
    """Run every rule on ``trace``; errors first, then in step order."""
    found: list[Diagnostic] = []
    for rule in RULES:
        found.extend(rule(trace))
    return found
