"""What the explorer's script reads: each node's rows, statistics and gradients, as plain data.

The script finds a node of the Graphviz picture by its DOT id (``t5``, its op ``o5``, a collapsed
module ``m0``) and an edge by ``"t1->o6"`` and its position among equal ones; everything it shows
comes from here, formatted as the tables format it (:func:`~gradtrace.views.report.build_report`),
so the panel and the tables agree.

Example:
    >>> import torch
    >>> from gradtrace.model.trace import ForwardStep, TensorSummary, Trace
    >>> from gradtrace.views.graph import build_graph
    >>> x = ForwardStep(1, "x", "tensor", (), TensorSummary.of(torch.tensor([3.0])),
    ...                 requires_grad=True)
    >>> t = Trace(steps=(x,))
    >>> data = explorer_data(t, build_graph(t))
    >>> data["nodes"]["t1"]["name"], data["steps"]["1"]["forward"][:3]
    ('x', ['1', 'x', 'tensor'])
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gradtrace.views.edges import EdgeGradients
from gradtrace.views.format import format_number, format_shape, format_value
from gradtrace.views.report import build_report

if TYPE_CHECKING:
    from gradtrace.model.records import TensorSummary
    from gradtrace.model.trace import Trace
    from gradtrace.views.nodes import Graph

__all__ = ["explorer_data", "statistics"]


def statistics(summary: TensorSummary | None) -> str:
    """A tensor's statistics, each number whole: ``"(32, 27) float32 · mean -0.0003 · min -0.03
    · max 0 · norm 0.1"``; the values themselves when there are six or fewer.

    Example:
        >>> import torch
        >>> from gradtrace.model.records import TensorSummary
        >>> statistics(TensorSummary.of(torch.arange(8.0)))
        '(8,) float32 · mean 3.5000 · min 0.0000 · max 7.0000 · norm 11.8322'
    """
    if summary is None:
        return "None"
    if summary.values is not None and summary.numel <= 6:
        return f"{format_shape(summary.shape)} {summary.dtype} · {format_value(summary)}"
    parts = [f"{format_shape(summary.shape)} {summary.dtype}"]
    for label in ("mean", "min", "max", "norm"):
        v = getattr(summary, label)
        if v is not None:
            parts.append(f"{label} {format_number(v)}")
    parts += [f"{n} {what}" for n, what in ((summary.nan, "nan"), (summary.inf, "inf")) if n]
    return " · ".join(parts)


def explorer_data(trace: Trace, graph: Graph) -> dict[str, Any]:
    """The explorer's data for ``graph`` (drawn from ``trace``): headers, passes, modules, one
    entry per node, per forward step and per edge into an op."""
    report = build_report(trace, sections="forward,backward", max_rows=None)
    forward = {r.cells[0]: list(r.cells) for r in report.forward.rows} if report.forward else {}
    by_backward = {b.step: b.forward_step for b in trace.backward_steps}
    backward: dict[int, list[list[Any]]] = {}
    for p in report.passes:
        index = int(p.table.title.split()[2].rstrip(":"))
        for row in p.table.rows:
            owner = by_backward.get(int(row.cells[0]))
            if owner is not None:
                backward.setdefault(owner, []).append([index, list(row.cells)])
    edges = EdgeGradients(trace)
    names = {s.step: s.name for s in trace.steps}
    by_step = {s.step: s for s in trace.steps}
    consumers: dict[int, list[int]] = {}
    for s in trace.steps:
        for i in s.inputs:
            consumers.setdefault(i, []).append(s.step)
    gradients = trace.gradients
    steps: dict[str, Any] = {}
    for s in trace.steps:
        uses = []
        for c in dict.fromkeys(consumers.get(s.step, ())):
            for use in range(by_step[c].inputs.count(s.step)):
                uses += [[names[c], a.backward_pass, format_value(a.grad)]
                         for a in edges.sent(c, s.step, use=use)]
        steps[str(s.step)] = {
            "forward": forward.get(str(s.step), []), "backward": backward.get(s.step, []),
            "value": statistics(s.value),
            "grad": statistics(gradients.total(s.step)) if s.requires_grad else "",
            "uses": uses}
    return {
        "headers": {"forward": list(report.forward.headers) if report.forward else [],
                    "backward": ["step", "node", "tensor", "grad in", "grad out"]},
        "passes": [[int(p.table.title.split()[2].rstrip(":")), p.table.title]
                   for p in report.passes],
        "modules": list(graph.modules),
        "nodes": _nodes(graph),
        "steps": steps,
        "edges": _edges(graph, edges),
    }


def _nodes(graph: Graph) -> dict[str, Any]:
    nodes: dict[str, Any] = {}
    for n in graph.nodes:
        step = n.steps[-1] if n.steps else None
        nodes[n.id] = {"name": n.name, "label": n.name, "kind": n.kind, "role": n.role,
                       "module": n.module or "", "step": step, "op": n.op, "value": n.value,
                       "grad": n.grad, "steps": len(n.steps)}
        if n.op_node:
            nodes[f"o{n.id[1:]}"] = {"name": n.name, "label": f"{n.op} → {n.name}", "kind": "op",
                                     "role": "op", "module": n.module or "", "step": step,
                                     "op": n.op}
    return nodes


def _edges(graph: Graph, edges: EdgeGradients) -> dict[str, list[list[list[Any]]]]:
    """``"t1->o6"`` → per edge with that title, in order, the ``[pass, gradient]`` it carried."""
    found: dict[str, list[list[list[Any]]]] = {}
    for n in graph.nodes:
        if n.kind != "tensor" or not n.op_node:
            continue
        consumer, seen = int(n.id[1:]), dict[str, int]()
        for source in n.inputs:
            key = f"{source}->o{n.id[1:]}"
            sent: list[list[Any]] = []
            if source.startswith("t"):
                use = seen[source] = seen.get(source, -1) + 1
                sent = [[a.backward_pass, format_value(a.grad)]
                        for a in edges.sent(consumer, int(source[1:]), use=use)]
            found.setdefault(key, []).append(sent)
    return found
