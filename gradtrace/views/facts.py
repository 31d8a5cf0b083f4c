"""What the graph shows on each node: gradients, backward order, role and warnings per step.

:class:`Facts` reads a Trace once (its backward steps and diagnostics) and then makes the
:class:`~gradtrace.views.nodes.GraphNode` of one tensor or of one collapsed module.

Example:
    >>> format_order([1, 2, 3, 7])
    '1-3, 7'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from gradtrace.views.edges import EdgeGradients, edge_label
from gradtrace.views.format import format_shape, format_value
from gradtrace.views.gradients import grad_preview
from gradtrace.views.nodes import GraphNode

if TYPE_CHECKING:
    from gradtrace.model.trace import ForwardStep, Trace

__all__ = ["Facts", "format_order"]

_ON_TENSOR = ("accumulate", "capture")  # backward steps shown on the tensor, not on its op
_MAX_OPS = 3


def format_order(orders: Sequence[int], *, most: int = 4) -> str:
    """Backward step numbers, runs joined: ``[1, 2, 3, 7]`` → ``"1-3, 7"``; long lists cut.

    Example:
        >>> format_order(range(1, 40, 2))
        '1, 3, 5, … 39 (20 steps)'
    """
    runs: list[list[int]] = []
    for n in sorted(set(orders)):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    parts = [str(a) if a == b else f"{a}-{b}" for a, b in runs]
    if len(parts) > most:
        parts = [*parts[: most - 1], f"… {parts[-1]} ({len(set(orders))} steps)"]
    return ", ".join(parts)


class Facts:
    """Per-step gradients, backward order and warnings of one Trace, read once."""

    def __init__(self, trace: Trace) -> None:
        self.ran = bool(trace.passes or trace.backward_steps)
        self.gradients = trace.gradients
        self.order: dict[int, list[int]] = {}
        self.op_order: dict[int, list[int]] = {}
        self.warn: dict[int, list[str]] = {}
        self.consumers: dict[int, list[int]] = {}
        self.roots = {r for p in trace.passes for r in p.roots}
        self._ignore = set(trace.settings.ignore)
        self.edges = EdgeGradients(trace)
        for s in trace.steps:
            for i in s.inputs:
                self.consumers.setdefault(i, []).append(s.step)
            if s.value.nan or s.value.inf:
                self._mark(s.step, "nan" if s.value.nan else "inf")
        for b in trace.backward_steps:
            if b.forward_step is None:
                continue
            where = self.order if b.kind in _ON_TENSOR else self.op_order
            where.setdefault(b.forward_step, []).append(b.step)
            if b.kind != "inner" and b.grad_in is not None and (b.grad_in.nan or b.grad_in.inf):
                self._mark(b.forward_step, "nan grad" if b.grad_in.nan else "inf grad")
            if getattr(b, "failed", False):  # recorded by newer recorders only
                self._mark(b.forward_step, "failed")
        self._diagnostics(trace)

    def _mark(self, step: int, kind: str) -> None:
        if kind.split()[0] not in self._ignore and kind not in self.warn.setdefault(step, []):
            self.warn[step].append(kind)

    def _diagnostics(self, trace: Trace) -> None:
        last = {s.name: s.step for s in trace.steps}
        by_backward = {b.step: b.forward_step for b in trace.backward_steps}
        for d in trace.warnings:
            step = d.step
            if step is None and d.backward_step is not None:
                step = by_backward.get(d.backward_step)
            if step is None and d.tensor is not None:
                step = last.get(d.tensor)
            if step is not None:
                self._mark(step, d.kind.replace("_", " "))
            for name in d.tensors[1:]:  # a grouped warning marks every tensor it names
                if name in last:
                    self._mark(last[name], d.kind.replace("_", " "))

    def grad_text(self, step: int) -> str | None:
        """The gradient preview: None before any backward, ``"None"`` when none arrived."""
        if not self.ran:
            return None
        return grad_preview(self.gradients.parts(step), self.gradients.total(step))

    def edge_texts(self, consumer: int, sources: Sequence[int]) -> tuple[str, ...]:
        """The gradient sent along each input edge of ``consumer``, in the order of
        ``sources`` (an input read twice is two edges, each with its own gradient)."""
        seen: dict[int, int] = {}
        texts = []
        for i in sources:
            use = seen[i] = seen.get(i, -1) + 1
            texts.append(edge_label(self.edges.sent(consumer, i, use=use)))
        return tuple(texts)

    def role(self, s: ForwardStep) -> str:
        if s.origin in ("parameter", "update") and s.requires_grad:  # an optimizer's version
            return "parameter"
        if s.requires_grad and s.is_leaf and not s.grad_fn:
            return "leaf"
        if s.requires_grad and (s.step in self.roots or s.step not in self.consumers):
            return "output"
        return "tensor" if s.requires_grad else "constant"

    def tensor_node(self, s: ForwardStep, inputs: tuple[str, ...], module: str | None
                    ) -> GraphNode:

        role = self.role(s)
        return GraphNode(
            f"t{s.step}", "tensor", s.name, role, s.op, s.grad_fn or "",
            format_shape(s.value.shape), format_value(s.value, shape=False),
            self.grad_text(s.step) if s.requires_grad else None,
            tuple(self.order.get(s.step, ())), tuple(self.op_order.get(s.step, ())),
            tuple(self.warn.get(s.step, ())), inputs, module, (s.step,),
            op_node=bool(s.inputs) or s.origin == "function")

    def module_node(self, uid: str, path: str, group: list[ForwardStep],
                    inputs: tuple[str, ...], unit: dict[int, str], group_modules: bool
                    ) -> GraphNode:
        """One box for the steps of a collapsed module: its ops, its output, all its orders."""

        ops = list(dict.fromkeys(s.op for s in group if s.inputs or s.origin == "function"))
        op = ", ".join(ops[:_MAX_OPS]) + (", …" if len(ops) > _MAX_OPS else "")
        op += f" ({len(group)} steps)"
        exits = [s for s in group
                 if any(unit.get(c) != uid for c in self.consumers.get(s.step, ()))
                 or (s.inputs and s.step not in self.consumers)]
        out = exits[-1] if len(exits) == 1 else None
        if out is not None and out.name != path:
            op += f" → {out.name}"
        elif out is None:
            op += f", {len(exits)} outputs"
        value = format_value(out.value, shape=False) if out else ""
        grad = self.grad_text(out.step) if out and out.requires_grad else None
        parent = path.rpartition(".")[0] or None
        warn = dict.fromkeys(w for s in group for w in self.warn.get(s.step, ()))
        orders = sorted(o for s in group
                        for o in self.order.get(s.step, []) + self.op_order.get(s.step, []))
        return GraphNode(
            uid, "module", path, "module", op, "", format_shape(out.value.shape) if out else "",
            value, grad, (), tuple(orders), tuple(warn), inputs,
            parent if group_modules else None, tuple(s.step for s in group))
