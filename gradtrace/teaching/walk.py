"""The stepper's stops: every forward step, then every backward step, with what to show at each.

A :class:`StepView` holds, for one stop, the text of its table row (value, or the gradient a
backward node received, and the chain-rule lines of :mod:`gradtrace.teaching.chain`) and which graph
nodes and edges to highlight, by the node names :mod:`gradtrace.views.dot` gives them (``t3``
for the tensor of step 3, ``o3`` for its op, ``m0`` for a collapsed module; an edge as
``"t1->o3"``, as Graphviz titles it in SVG).

Example:
    >>> import torch
    >>> from gradtrace import trace
    >>> with trace() as t:
    ...     x = torch.tensor([3.0], requires_grad=True)
    ...     y = x.cos()
    ...     y.backward()
    >>> [(v.phase, v.step, v.nodes) for v in walk(t)]  # doctest: +NORMALIZE_WHITESPACE
    [('forward', 1, ('t1',)), ('forward', 2, ('o2', 't2')),
     ('backward', 1, ('o2',)), ('backward', 2, ('t1',))]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gradtrace.teaching.chain import ChainContext, fmt, formula_of, local_derivatives
from gradtrace.teaching.derivatives import OPS
from gradtrace.views.format import format_grad_out, format_value
from gradtrace.views.graph import Graph, GraphNode, build_graph

if TYPE_CHECKING:
    from gradtrace.model.trace import BackwardStep, ForwardStep, Trace

__all__ = ["StepView", "walk"]


@dataclass(frozen=True)
class StepView:
    """One stop of the stepper: a forward step or a backward step, in the order they ran.

    ``title`` names the stop, ``value`` is the tensor's value (forward) or the gradient the
    node received (backward), ``lines`` the formula and chain-rule lines, ``nodes`` and
    ``edges`` what to highlight in the graph.
    """

    phase: str
    step: int
    backward_pass: int | None
    title: str
    node: str
    tensor: str
    name: str
    value: str
    lines: tuple[str, ...]
    nodes: tuple[str, ...] = ()
    edges: tuple[str, ...] = ()


def _where(graph: Graph) -> dict[int, GraphNode]:
    return {s: n for n in graph.nodes for s in n.steps}


def _ids(n: GraphNode | None, on_op: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The node ids and edge titles of a tensor's box (``on_op=False``) or of its op."""
    if n is None:
        return (), ()
    if n.kind != "tensor" or not n.op_node:
        return (n.id,), ()
    op = f"o{n.id[1:]}"
    into = tuple(f"{i}->{op}" for i in n.inputs)
    return ((op,), into) if on_op else ((op, n.id), (*into, f"{op}->{n.id}"))


def walk(trace: Trace, graph: Graph | None = None) -> list[StepView]:
    """Every forward step, then every backward step, as the stepper shows them.

    Args:
        trace: the trace to walk through.
        graph: the graph whose nodes are highlighted (default: ``build_graph(trace)``, the one
            the report draws).
    """
    graph = build_graph(trace) if graph is None else graph
    where = _where(graph)
    context = ChainContext.of(trace)
    roots: dict[int, int] = {}
    for p in trace.passes:
        if p.roots:
            roots.setdefault(p.index, p.roots[0])  # as root_of picks it
    out = [_forward(trace, s, context, where) for s in trace.steps]
    for b in trace.backward_steps:
        out.append(_backward(trace, b, context, where, roots.get(b.backward_pass)))
    return out


def _forward(trace: Trace, s: ForwardStep, context: ChainContext,
             where: dict[int, GraphNode]) -> StepView:
    syms = context.syms
    sym, value = syms[s.step], fmt(s.value.values) if s.value.values is not None else None
    if value is None:
        value = format_value(s.value)
    if s.inputs:
        line = f"{sym} = {formula_of(trace, s, syms, context.by_step)} = {value}"
    else:
        kind = "leaf" if s.requires_grad and s.is_leaf else s.origin
        line = f"{sym} = {value} ({kind})"
    where_ = f", line {s.line}" if s.line is not None else ""
    nodes, edges = _ids(where.get(s.step), on_op=False)
    return StepView("forward", s.step, None, f"forward step {s.step}{where_}: {s.op}", s.op, sym,
                    s.name, value, (line,), nodes, edges)


def _backward(trace: Trace, b: BackwardStep, context: ChainContext,
              where: dict[int, GraphNode], root: int | None) -> StepView:
    syms, by_step = context.syms, context.by_step
    sym = syms.get(b.forward_step, b.tensor) if b.forward_step is not None else b.tensor
    L = syms.get(root, "L") if root is not None else "L"
    received = fmt(b.grad_in.values) if b.grad_in is not None and b.grad_in.values is not None \
        else format_value(b.grad_in)
    on_op = b.kind in ("node", "inner")
    nodes, edges = _ids(where.get(b.forward_step) if b.forward_step is not None else None, on_op)
    if b.kind == "accumulate":
        lines: tuple[str, ...] = (f"{format_grad_out(b)} (AccumulateGrad adds ∂{L}/∂{sym})",)
    elif b.kind == "capture":
        lines = (f"autograd.grad returned ∂{L}/∂{sym} = {received}",)
    elif b.kind in ("inner", "untraced"):
        what = "inside the op of" if b.kind == "inner" else "of a graph built before the trace, for"
        lines = (f"{b.node} ran {what} {sym}: {format_grad_out(b)}",)
    else:
        found = local_derivatives(trace, b, context)
        op = by_step[b.forward_step].op if b.forward_step in by_step else b.node
        why = (f"the values of {op} were too big to keep (trace(values=\"full\") keeps them) "
               "or its arguments were not recorded" if op in OPS
               else f"gradtrace has no local-derivative rule for {op}")
        lines = tuple(d.text for d in found) or (f"{why}; it sent {format_grad_out(b)}",)
    title = f"backward step {b.step} (pass {b.backward_pass}): {b.node}"
    return StepView("backward", b.step, b.backward_pass, title, b.node, sym, b.tensor,
                    f"∂{L}/∂{sym} = {received}", lines, nodes, edges)
