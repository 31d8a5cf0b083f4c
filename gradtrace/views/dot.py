"""The graph as Graphviz DOT: a ``graphviz.Digraph`` of tensors, ops and modules.

Colours: leaves (tensors that require grad) blue, parameters green, constants (no grad) grey and
dashed, outputs amber with a thick border, collapsed modules violet; small grey nodes are ops with
their ``grad_fn``. On graphs of up to :data:`~gradtrace.views.nodes.EDGE_LABELS_UP_TO` nodes
each edge into an op is labelled (in blue) with the gradient the op's backward sent along it.
"backward N" is the step in which autograd reached the node (the ``step``
column of ``Trace.backward``); a red border and a "!" line mark a warning. Every piece of user
text goes into HTML-like labels through ``html.escape``, backslashes doubled, so names such as
``<b>`` or ``a\\N`` stay text.

Example:
    >>> import torch
    >>> from gradtrace.model.trace import ForwardStep, TensorSummary, Trace
    >>> x = ForwardStep(1, "x", "tensor", (), TensorSummary.of(torch.tensor([3.0])),
    ...                 requires_grad=True)
    >>> "<b>x</b>" in to_dot(Trace(steps=(x,))).source
    True
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import graphviz

from gradtrace.views import pictures
from gradtrace.views.facts import format_order
from gradtrace.views.graph import build_graph
from gradtrace.views.nodes import EDGE_LABELS_UP_TO, MAX_NODES, Collapse, Graph, GraphNode
from gradtrace.views.tree import tree_lines

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace

__all__ = ["to_dot", "draw", "TraceGraph", "STYLES"]

#: role → (fill, border, table style) of a node's box.
STYLES = {
    "leaf": ("#dbeafe", "#2563eb", "rounded"),
    "parameter": ("#dcfce7", "#16a34a", "rounded"),
    "constant": ("#f3f4f6", "#9ca3af", "dashed"),
    "output": ("#fef3c7", "#d97706", "rounded"),
    "tensor": ("#ffffff", "#6b7280", "rounded"),
    "module": ("#ede9fe", "#7c3aed", "rounded"),
    "elided": ("#f3f4f6", "#9ca3af", "dotted"),
}
_WARN, _DIM, _ORDER = "#dc2626", "#6b7280", "#b45309"
_EDGE = "#0369a1"  # the gradient sent along an edge (small graphs)
_MAX_TEXT = 48


class TraceGraph(graphviz.Digraph):  # type: ignore[misc]
    """A ``graphviz.Digraph`` that draws itself in notebooks with gradtrace's Graphviz lookup.

    It renders with the system ``dot`` or the ``graphviz-pure`` program, and shows the text tree
    with a line on how to get pictures when neither is installed.
    """

    _gradtrace_graph: Graph | None = None

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None,
                          **kwargs: Any) -> dict[str, str]:
        svg_type = "image/svg+xml"
        wants = (include is None or svg_type in include) and not (exclude and svg_type in exclude)
        svg, text = picture_or_text(self.source, self._gradtrace_graph, svg=wants)
        return {"text/plain": text, svg_type: svg} if svg else {"text/plain": text}


def to_dot(trace: Trace, *, group_modules: bool = True, collapse: Collapse = "auto",
           depth: int | None = None, hide_constants: bool = False, rankdir: str = "TB",
           max_nodes: int | None = MAX_NODES, legend: bool = True) -> TraceGraph:
    """Draw ``trace`` as a Graphviz graph: one node per tensor and per op, edges as data flows.

    Args:
        trace: the trace to draw.
        group_modules: one cluster per ``nn.Module`` the ops ran in, nested as the modules are.
        collapse: ``"auto"`` (collapse modules only past ``max_nodes``), True (every top-level
            module as one box), module paths such as ``["model.fc1"]``, or False.
        depth: draw each module nested this deep as one box (``"model"`` is 1).
        hide_constants: leave out tensors that need no gradient.
        rankdir: ``"TB"`` (top to bottom) or ``"LR"`` (left to right); ``"BT"``, ``"RL"`` too.
        max_nodes: the most nodes drawn before the earliest steps are left out; None: no limit.
        legend: add a legend of the colours.

    Returns:
        A :class:`TraceGraph` (a ``graphviz.Digraph``); ``.source`` is the DOT text.
    """
    graph = build_graph(trace, group_modules=group_modules, collapse=collapse, depth=depth,
                        hide_constants=hide_constants, max_nodes=max_nodes)
    return draw(graph, rankdir=rankdir, legend=legend)


def draw(graph: Graph, *, rankdir: str = "TB", legend: bool = True) -> TraceGraph:
    """Turn a :class:`~gradtrace.views.graph.Graph` into DOT."""
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise ValueError(f"gradtrace: rankdir must be 'TB', 'LR', 'BT' or 'RL', not {rankdir!r}")
    dot = TraceGraph(
        "gradtrace",
        graph_attr={"rankdir": rankdir, "bgcolor": "transparent", "fontname": "Helvetica",
                    "fontsize": "10", "fontcolor": _DIM, "nodesep": "0.25", "ranksep": "0.3",
                    "labelloc": "t", "labeljust": "l"},
        node_attr={"shape": "plain", "fontname": "Helvetica", "fontsize": "10"},
        edge_attr={"color": _DIM, "arrowsize": "0.6"},
    )
    dot._gradtrace_graph = graph
    notes = list(graph.notes) or ([] if graph.nodes else ["nothing to draw"])
    if notes:
        dot.attr(label=_html("<br/>".join(html.escape(n) for n in notes)))
    placed: dict[str | None, list[GraphNode]] = {}
    for n in graph.nodes:
        placed.setdefault(n.module, []).append(n)
    _emit(dot, graph, placed, None)
    labelled = graph.size <= EDGE_LABELS_UP_TO
    for n in graph.nodes:
        target = f"o{n.id[1:]}" if n.op_node else n.id
        grads = n.input_grads if labelled and len(n.input_grads) == len(n.inputs) else ()
        for k, i in enumerate(n.inputs):
            if grads and grads[k]:
                dot.edge(i, target, label=_text(grads[k]), fontsize="8", fontcolor=_EDGE)
            else:
                dot.edge(i, target)
        if n.op_node:
            dot.edge(target, n.id)
    if legend and graph.nodes:
        dot.node("legend", _legend())
    return dot


def _emit(dot: graphviz.Digraph, graph: Graph, placed: dict[str | None, list[GraphNode]],
          module: str | None, children: dict[str, list[int]] | None = None) -> None:
    """Emit the nodes of ``module``'s cluster, then its child clusters, recursively."""
    if children is None:
        children = {}
        for i, path in enumerate(graph.modules):
            children.setdefault(path.rpartition(".")[0], []).append(i)
    for n in placed.get(module, []):
        if n.op_node:
            dot.node(f"o{n.id[1:]}", _op_label(n))
        dot.node(n.id, _box_label(n))
    for i in children.get(module or "", []):
        child = graph.modules[i]
        with dot.subgraph(name=f"cluster_{i}") as sub:
            sub.attr(label=_html(f"<b>{_text(child)}</b>"), style="rounded,dashed",
                     color="#9ca3af", fontcolor=_DIM)
            _emit(sub, graph, placed, child, children)


def _html(body: str) -> str:
    return f"<{body}>"


def _text(text: str) -> str:
    """User text for a label: cut to a readable length, then escaped.

    Graphviz reads backslash escapes even in HTML-like labels (``\\N`` is the node's id), and
    decodes entities first, so a backslash is doubled rather than written as ``&#92;``.
    """
    if len(text) > _MAX_TEXT:
        text = text[: _MAX_TEXT - 1] + "…"
    return html.escape(text).replace("\\", "\\\\")


def _rows(rows: list[str], fill: str, border: str, style: str, width: int = 1,
          align: str = "left") -> str:
    cells = "".join(f'<tr><td align="{align}">{r}</td></tr>' for r in rows)
    return _html(f'<table border="{width}" cellborder="0" cellspacing="0" cellpadding="2" '
                 f'bgcolor="{fill}" color="{border}" style="{style}">{cells}</table>')


def _box_label(n: GraphNode) -> str:
    fill, border, style = STYLES.get(n.role, STYLES["tensor"])
    head = f"<b>{_text(n.name)}</b>"
    if n.shape not in ("", "()"):  # a 0-d tensor's empty shape is only noise in a picture
        head += f' <font color="{_DIM}">{_text(n.shape)}</font>'
    rows = [head]
    if n.kind == "module":
        rows.append(f'<font color="{_DIM}">module: {_text(n.op)}</font>')
    elif not n.op_node and n.role in ("leaf", "parameter", "constant"):
        rows.append(f'<font color="{_DIM}">{_text(n.role)}</font>')
    if n.value:
        rows.append(f"value {_text(n.value)}")
    if n.grad is not None:
        rows.append(f"grad {_text(n.grad)}")
    orders = n.order if n.op_node else n.order + n.op_order
    if orders:
        rows.append(f'<font color="{_ORDER}">backward {format_order(orders)}</font>')
    if n.warnings:
        rows.append(f'<font color="{_WARN}">! {_text(", ".join(n.warnings))}</font>')
        border = _WARN
    return _rows(rows, fill, border, style, 2 if n.warnings or n.role == "output" else 1)


def _op_label(n: GraphNode) -> str:
    rows = [f"<b>{_text(n.op)}</b>"]
    if n.grad_fn:
        rows.append(f'<font color="{_DIM}" point-size="8">{_text(n.grad_fn)}</font>')
    if n.op_order:
        rows.append(f'<font color="{_ORDER}">backward {format_order(n.op_order)}</font>')
    return _rows(rows, "#f3f4f6", _DIM, "rounded", align="center")


def _legend() -> str:
    names = {"leaf": "leaf (requires grad)", "parameter": "parameter", "constant":
             "constant (no grad)", "output": "output", "module": "module (collapsed)"}
    rows = [f'<tr><td bgcolor="{STYLES[k][0]}">{v}</td></tr>' for k, v in names.items()]
    rows.append(f'<tr><td><font color="{_ORDER}">backward N</font>: autograd\'s order</td></tr>')
    rows.append(f'<tr><td><font color="{_WARN}">! warning</font></td></tr>')
    return _html(f'<table border="0" cellborder="1" cellspacing="0" cellpadding="3" '
                 f'bgcolor="#ffffff" color="{_DIM}">{"".join(rows)}</table>')


def picture_or_text(source: str, graph: Graph | None, *, svg: bool = True,
                    width: int = 100) -> tuple[str | None, str]:
    """The SVG of ``source`` (None without Graphviz or when ``svg`` is False) and a text form.

    The text is the tree of ``graph`` (the DOT source when there is none), with the reason
    there is no picture on the first line when one was wanted.
    """
    text = "\n".join(tree_lines(graph, width=width)) if graph is not None else source
    if not svg:
        return None, text
    try:
        svg_bytes = pictures.render(source, "svg", timeout=pictures.DISPLAY_TIMEOUT)
        return svg_bytes.decode("utf-8"), text
    except pictures.PictureError as exc:
        return None, f"{exc}\n{text}"
