"""Rules about optimizer steps: updates far outside the usual size relative to the parameter."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gradtrace.diagnostics.describe import where
from gradtrace.diagnostics.diagnostic import Diagnostic
from gradtrace.model.updates import updates

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace

__all__ = ["update_ratio"]


def update_ratio(trace: Trace) -> list[Diagnostic]:
    """Parameters whose update ``‖Δp‖/‖p‖`` was above or below the trace's bounds, grouped.

    The ratio is usually about 1e-3 (1e-4 to 1e-1); far above, the learning rate is too high
    and training diverges; far below, the parameter barely moves. An exactly zero update (a
    gradient of zero, a step skipped) is not reported.
    """
    low, high = trace.settings.update_ratio_below, trace.settings.update_ratio_above
    found = []
    for side, hits in (("above", [u for u in updates(trace) if u.ratio > high]),
                       ("below", [u for u in updates(trace) if 0 < u.ratio < low])):
        if not hits:
            continue
        worst = max(hits, key=lambda u: u.ratio) if side == "above" else min(
            hits, key=lambda u: u.ratio)
        names = list(dict.fromkeys(u.parameter for u in hits))
        listed = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        limit = high if side == "above" else low
        fix = ("Lower the learning rate (or clip gradients); the update of a parameter is "
               "usually about a thousandth of its size." if side == "above" else
               "Raise the learning rate, or check that the parameter is meant to train.")
        found.append(Diagnostic(
            "update_ratio",
            f"optimizer updates ‖Δp‖/‖p‖ {side} {limit:g} for {listed}: the largest "
            f"departure is {worst.parameter} at {worst.ratio:.3g} in {worst.optimizer} step "
            f"{worst.call}{where(worst.line)}.",
            fix, tensor=names[0], tensors=tuple(names), step=worst.step, line=worst.line))
    return found
