"""Rules that read a finished Trace and say what went wrong, where, and what to write instead.

Each rule is a plain function ``rule(trace) -> list[Diagnostic]`` that reads records only (never
live tensors), so a Trace built by hand is diagnosed like a recorded one. :func:`diagnose` runs
them all, drops the kinds the trace was asked to ignore, and puts errors first.

Kinds: ``backward_twice``, ``inplace``, ``nan``, ``inf``, ``function_check``, ``rank_desync``,
``accumulation``, ``step_without_gradient``, ``not_updated``, ``softmax_into_loss``,
``loss_broadcast``, ``eval_mode``, ``graph_kept``, ``unused_parameter``, ``no_gradient``,
``non_leaf_grad``, ``dead_relu``, ``saturated``, ``vanishing``, ``exploding``,
``update_ratio``, ``no_sync``. ``rank_desync`` and ``unused_parameter`` compare
ranks (:mod:`gradtrace.diagnostics.ranks`); ``no_sync`` explains accumulation that DDP's
``no_sync()`` meant, rather than warning.

Example:
    >>> from gradtrace.model.trace import Trace
    >>> diagnose(Trace())
    []
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from gradtrace.diagnostics import (
    activations,
    errors,
    gradients,
    losses,
    norms,
    numerics,
    training,
)
from gradtrace.diagnostics.diagnostic import KINDS, Diagnostic, Warnings

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace

__all__ = ["Diagnostic", "Warnings", "diagnose", "KINDS"]

#: The rules, each ``rule(trace) -> list[Diagnostic]``.
RULES: tuple[Callable[[Trace], list[Diagnostic]], ...] = (
    errors.backward_twice, errors.inplace, numerics.nonfinite, errors.function_check,
    gradients.accumulation, gradients.no_gradient, gradients.non_leaf_grad,
    norms.vanishing_exploding, training.update_ratio, training.not_updated,
    training.step_without_gradient, training.eval_mode, losses.softmax_into_loss,
    losses.loss_broadcast, losses.graph_kept, activations.dead_relu, activations.saturated)


def diagnose(trace: Trace) -> Warnings:
    """Run every rule on ``trace``; the most severe kinds first, each in step order."""
    ignore = set(trace.settings.ignore)
    found = [d for rule in RULES for d in rule(trace) if d.kind not in ignore]
    found.sort(key=lambda d: KINDS.index(d.kind))
    return Warnings(found)
