"""The graph as a text tree, for terminals: each output with the tensors it was made from below it.

One line per tensor: its name, role, the op that made it (with its ``grad_fn``), value, gradient,
the backward steps that reached it and any warning. A tensor already drawn with its inputs is
shown again as ``(shown above)``; a branch deeper than the width allows continues as a tree of its
own below, so no line is wider than asked and no recursion limit is hit.

Example:
    >>> import torch
    >>> from gradtrace.model.trace import ForwardStep, TensorSummary, Trace
    >>> S = TensorSummary.of
    >>> x = ForwardStep(1, "x", "tensor", (), S(torch.tensor([3.0])), requires_grad=True)
    >>> y = ForwardStep(2, "y", "cos", (1,), S(torch.tensor([3.0]).cos()), "CosBackward0",
    ...                 True, False)
    >>> print(to_tree(Trace(steps=(x, y))))
    y  output  cos (CosBackward0)  value -0.9900
    └── x  leaf  value 3.0000
"""

from __future__ import annotations

import textwrap
from typing import TYPE_CHECKING, Any

from gradtrace.views.facts import format_order
from gradtrace.views.format import plural, truncate
from gradtrace.views.graph import build_graph

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace
    from gradtrace.views.graph import Graph, GraphNode

__all__ = ["to_tree", "tree_lines", "describe"]

_PLAIN_ROLES = ("tensor", "elided")
_SCALAR = ("", "()", "(1,)")


def to_tree(trace: Trace, *, width: int = 100, max_rows: int | None = None,
            **options: Any) -> str:
    """The text tree of ``trace``'s graph.

    Args:
        trace: the trace to show.
        width: the widest line; longer lines end in ``"…"``.
        max_rows: the most lines; the rest are counted on a last line. None shows all.
        **options: graph options, as for :func:`~gradtrace.views.graph.build_graph`.
    """
    return "\n".join(tree_lines(build_graph(trace, **options), width=width, max_rows=max_rows))


def describe(n: GraphNode) -> str:
    """One node as one line, without the tree's branches."""
    parts = [n.name if n.shape in _SCALAR else f"{n.name} {n.shape}"]
    if n.role not in _PLAIN_ROLES:
        parts.append(n.role)
    if n.kind == "module" or n.op_node:
        parts.append(n.op + (f" ({n.grad_fn})" if n.grad_fn else ""))
    if n.value:
        parts.append(f"value {n.value}")
    if n.grad is not None:
        parts.append(f"grad {n.grad}")
    orders = n.order + n.op_order
    if orders:
        parts.append(f"backward {format_order(orders)}")
    if n.warnings:
        parts.append("! " + ", ".join(n.warnings))
    return "  ".join(parts)


def tree_lines(graph: Graph, *, width: int = 100, max_rows: int | None = None) -> list[str]:
    """The tree of ``graph``, one string per line; notes on what was collapsed come first."""
    lines = [line for note in graph.notes for line in textwrap.wrap(note, max(width, 20))]
    by_id = {n.id: n for n in graph.nodes}
    used = {i for n in graph.nodes for i in n.inputs}
    queue = [n.id for n in graph.nodes if n.id not in used]
    deepest = max(2, (width - 24) // 4)
    expanded: set[str] = set()
    printed: set[str] = set()
    while True:
        while queue:
            root = queue.pop(0)
            if root not in expanded:
                lines += _branch(by_id, root, deepest, width, expanded, printed, queue)
        rest = [n.id for n in graph.nodes if n.id not in printed]  # inside a cycle: no root
        if not rest:
            break
        queue.append(rest[-1])  # the latest, nearest the outputs
    if max_rows is not None and len(lines) > max_rows:
        more = len(lines) - max(max_rows, 0)
        lines = [*lines[: max(max_rows, 0)], f"… {plural(more, 'more line')}"]
    return lines


def _branch(by_id: dict[str, GraphNode], root: str, deepest: int, width: int,
            expanded: set[str], printed: set[str], queue: list[str]) -> list[str]:
    """The lines of one tree, depth first, without recursion."""
    lines = []
    stack: list[tuple[str, str, str, int]] = [(root, "", "", 0)]
    while stack:
        nid, lead, child_lead, depth = stack.pop()
        node = by_id[nid]
        children = list(dict.fromkeys(i for i in node.inputs if i in by_id))
        text = describe(node)
        if children and nid in expanded:
            text, children = f"{node.name}  (shown above)", []
        elif children and depth >= deepest:
            text, children = f"{node.name}  (continued below)", []
            queue.append(nid)
        elif children:
            expanded.add(nid)
        printed.add(nid)
        lines.append(truncate(lead + text, width))
        for k, child in reversed(list(enumerate(children))):
            last = k == len(children) - 1
            stack.append((child, child_lead + ("└── " if last else "├── "),
                          child_lead + ("    " if last else "│   "), depth + 1))
    return lines
