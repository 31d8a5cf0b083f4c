"""Rules that read a finished Trace and say what went wrong, where, and what to write instead.

Each rule is a plain function ``rule(trace) -> list[Diagnostic]`` that reads records only (never
live tensors), so a Trace built by hand is diagnosed like a recorded one. :func:`diagnose` runs
them all, drops the kinds the trace was asked to ignore, and puts errors first.

Kinds: ``backward_twice``, ``inplace``, ``nan``, ``inf``, ``function_check``, ``accumulation``,
``no_gradient``, ``non_leaf_grad``, ``vanishing``, ``exploding``.

Example:
    >>> from gradtrace.model.trace import Trace
    >>> diagnose(Trace())
    []
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace

__all__ = ["Diagnostic", "Warnings", "diagnose", "KINDS"]

#: Every kind, most severe first: the order warnings are shown in.
KINDS = ("backward_twice", "inplace", "nan", "inf", "function_check", "accumulation",
         "no_gradient", "non_leaf_grad", "vanishing", "exploding")


@dataclass(frozen=True)
class Diagnostic:
    """One warning: its kind, a message naming tensor, step and line, and a one-line fix."""

    kind: str
    message: str
    fix: str = ""
    tensor: str | None = None
    step: int | None = None
    backward_step: int | None = None
    line: int | None = None

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}" + (f" {self.fix}" if self.fix else "")


class Warnings(list[Diagnostic]):
    """A list of :class:`Diagnostic` that can be filtered by kind: ``trace.warnings.of("nan")``."""

    def of(self, *kinds: str) -> Warnings:
        unknown = set(kinds) - set(KINDS)
        if unknown:
            raise ValueError(f"gradtrace: unknown warning kind {sorted(unknown)}; "
                             f"kinds are {', '.join(KINDS)}")
        return Warnings(d for d in self if d.kind in kinds)


def _rules() -> list[Callable[[Trace], list[Diagnostic]]]:
    from gradtrace.diagnostics import errors, gradients, numerics

    return [errors.backward_twice, errors.inplace, numerics.nonfinite, errors.function_check,
            gradients.accumulation, gradients.no_gradient, gradients.non_leaf_grad,
            gradients.vanishing_exploding]


def diagnose(trace: Trace) -> Warnings:
    """Run every rule on ``trace``; the most severe kinds first, each in step order."""
    ignore = set(trace.settings.ignore)
    found = [d for rule in _rules() for d in rule(trace) if d.kind not in ignore]
    found.sort(key=lambda d: KINDS.index(d.kind))
    return Warnings(found)
