"""What a rule returns: a :class:`Diagnostic`, and the kinds there are, most severe first."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["KINDS", "Diagnostic", "Warnings"]

#: Every kind, most severe first: the order warnings are shown in.
KINDS = ("backward_twice", "inplace", "nan", "inf", "function_check", "rank_desync",
         "accumulation", "step_without_gradient", "not_updated", "softmax_into_loss",
         "loss_broadcast", "eval_mode", "graph_kept", "unused_parameter", "no_gradient",
         "non_leaf_grad", "dead_relu", "saturated", "vanishing", "exploding", "update_ratio",
         "no_sync")


@dataclass(frozen=True)
class Diagnostic:
    """One warning: its kind, a message naming tensor, step and line, and a one-line fix."""

    kind: str
    message: str
    fix: str = ""
    tensor: str | None = None
    tensors: tuple[str, ...] = ()  # every tensor a grouped warning names (tensor: the first)
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
