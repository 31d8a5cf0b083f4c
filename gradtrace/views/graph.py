"""The graph of a Trace as plain data: one node per tensor (or collapsed module) and its inputs.

``dot.py`` draws a :class:`Graph` with Graphviz and ``tree.py`` prints it as text; both read the
same Graph, so the picture and the text tree always agree. Building it reads Trace records only.

# NOTE [Keeping big graphs readable]
# Graphviz's layout time grows faster than the node count, and a picture of thousands of nodes
# is unreadable anyway. Past ``max_nodes`` (counting op nodes too), modules are collapsed to one
# box each, deepest level first, until the graph fits (but not to a level that leaves a box or
# two for everything, such as one box for a whole nn.Sequential); if it still does not fit, only
# the steps nearest the end of the trace (the loss, usually) are kept and one node stands for
# the earlier ones. ``Graph.notes`` says what was done, and both renderers show it.

Example:
    >>> import torch
    >>> from gradtrace.model.trace import ForwardStep, TensorSummary, Trace
    >>> v = TensorSummary.of(torch.tensor([3.0]))
    >>> x = ForwardStep(1, "x", "tensor", (), v, requires_grad=True)
    >>> y = ForwardStep(2, "y", "cos", (1,), v, "CosBackward0", True, False)
    >>> [(n.id, n.name, n.role, n.inputs) for n in build_graph(Trace(steps=(x, y))).nodes]
    [('t1', 'x', 'leaf', ()), ('t2', 'y', 'output', ('t1',))]
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple

from gradtrace.views.facts import Facts, format_order
from gradtrace.views.nodes import MAX_NODES, Collapse, Graph, GraphNode

if TYPE_CHECKING:
    from gradtrace.model.trace import ForwardStep, Trace

__all__ = ["Graph", "GraphNode", "build_graph", "format_order", "MAX_NODES", "Collapse"]

def build_graph(trace: Trace, *, group_modules: bool = True, collapse: Collapse = "auto",
                depth: int | None = None, hide_constants: bool = False,
                max_nodes: int | None = MAX_NODES) -> Graph:
    """Build the graph of ``trace``.

    Args:
        trace: the trace to draw.
        group_modules: put the ops that ran inside an ``nn.Module`` in one cluster per module.
        collapse: ``"auto"`` collapses modules only when the graph has more than ``max_nodes``
            nodes; True collapses every top-level module to one box; an iterable of module paths
            (``["model.fc1"]``) collapses those; False or None collapses none.
        depth: collapse every module nested this deep (``"model"`` is 1, ``"model.fc1"`` 2).
        hide_constants: leave out tensors that need no gradient (inputs, targets, masks).
        max_nodes: the most nodes drawn; past it the earliest steps are replaced by one node.
            None draws everything.

    Returns:
        The Graph; its ``notes`` say what was collapsed or left out.
    """
    steps = [s for s in trace.steps if s.requires_grad or not hide_constants]
    fixed = _explicit(collapse, steps) | _at_depth(depth, steps)
    layout, notes = _Layout.of(steps, fixed), []
    if collapse == "auto" and max_nodes is not None and layout.size > max_nodes:
        deepest = max((s.module.count(".") + 1 for s in steps if s.module), default=0)
        for k in range(deepest, 0, -1):
            coarser = _Layout.of(steps, fixed | _at_depth(k, steps))
            if k < deepest and coarser.size < max_nodes // 10:
                break  # a box or two for everything says little: keep level k+1 and cut it
            layout = coarser
            notes = [f"{len(steps)} steps: modules nested {k} deep are drawn as one box each "
                     "(collapse=False keeps them open)"]
            if layout.size <= max_nodes:
                break
    graph = layout.draw(Facts(trace), group_modules)
    if max_nodes is not None and graph.size > max_nodes:
        graph, dropped = _elide(graph, max(max_nodes - 1, 1))
        notes.append(f"only the last {len(steps) - dropped} of {len(steps)} steps are drawn; "
                     f"one node stands for the {dropped} before them (max_nodes=None draws all)")
    return Graph(graph.nodes, graph.modules, tuple(notes))


def _prefixes(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:k]) for k in range(1, len(parts) + 1)]


def _explicit(collapse: Collapse, steps: list[ForwardStep]) -> set[str]:
    if collapse is True:
        return _at_depth(1, steps)
    if collapse in (None, False, "auto"):
        return set()
    return {collapse} if isinstance(collapse, str) else set(collapse)  # type: ignore[arg-type]


def _at_depth(depth: int | None, steps: list[ForwardStep]) -> set[str]:
    if depth is None:
        return set()
    return {p for s in steps if s.module for p in _prefixes(s.module)[depth - 1: depth]}


class _Layout(NamedTuple):
    """Which node each step is drawn in: its own, or its collapsed module's. Counting the nodes
    needs only this; their texts are formatted once, for the layout chosen (:meth:`draw`)."""

    unit: dict[int, str]  # step -> node id
    members: dict[str, list[ForwardStep]]  # node id -> its steps
    paths: dict[str, str]  # node id of a collapsed module -> its path

    @classmethod
    def of(cls, steps: list[ForwardStep], collapsed: set[str]) -> _Layout:
        owner: dict[str, str | None] = {}
        boxes: dict[str, str] = {}  # module path → node id ("m0", ...): user text never in an id
        unit: dict[int, str] = {}
        members: dict[str, list[ForwardStep]] = {}
        for s in steps:
            if s.module and s.module not in owner:
                owner[s.module] = next((p for p in _prefixes(s.module) if p in collapsed), None)
            box = owner.get(s.module) if s.module else None
            if box:
                unit[s.step] = boxes.setdefault(box, f"m{len(boxes)}")
            else:
                unit[s.step] = f"t{s.step}"
            members.setdefault(unit[s.step], []).append(s)
        return cls(unit, members, {uid: path for path, uid in boxes.items()})

    @property
    def size(self) -> int:
        """What :attr:`Graph.size` of the drawn graph will be: boxes plus op nodes."""
        ops = sum(1 for uid, group in self.members.items() if uid not in self.paths
                  and (group[0].inputs or group[0].origin == "function"))
        return len(self.members) + ops

    def draw(self, facts: Facts, group_modules: bool) -> Graph:
        """The graph of this layout: each node with its texts, linked to its inputs."""
        unit, paths = self.unit, self.paths
        nodes = []
        for uid, group in self.members.items():
            inputs = [unit[i] for s in group for i in s.inputs if i in unit and unit[i] != uid]
            if uid in paths:
                nodes.append(facts.module_node(uid, paths[uid], group,
                                               tuple(dict.fromkeys(inputs)), unit, group_modules))
            else:
                module = group[0].module if group_modules else None
                sources = [i for i in group[0].inputs if i in unit and unit[i] != uid]
                node = facts.tensor_node(group[0], tuple(inputs), module)
                nodes.append(replace(node, input_grads=facts.edge_texts(group[0].step, sources)))
        modules = dict.fromkeys(p for n in nodes if n.module for p in _prefixes(n.module))
        return Graph(tuple(nodes), tuple(modules))


def _elide(graph: Graph, budget: int) -> tuple[Graph, int]:
    """Keep the last nodes that fit in ``budget``; one ``elided`` node stands for the rest."""
    kept: list[GraphNode] = []
    used = 0
    for n in reversed(graph.nodes):
        used += 1 + n.op_node
        if used > budget:
            break
        kept.append(n)
    kept.reverse()
    ids = {n.id for n in kept}
    gone = [n for n in graph.nodes if n.id not in ids]
    dropped = sum(len(n.steps) for n in gone)
    more = GraphNode("more", "elided", f"… {dropped} earlier steps", "elided",
                     steps=tuple(s for n in gone for s in n.steps))
    fixed = []
    for n in kept:
        inputs = [i if i in ids else "more" for i in n.inputs]
        if n.kind == "module" or inputs.count("more") > 1:
            inputs = list(dict.fromkeys(inputs))
        fixed.append(replace(n, inputs=tuple(inputs)))
    nodes = (more, *fixed)
    modules = dict.fromkeys(p for n in nodes if n.module for p in _prefixes(n.module))
    return Graph(nodes, tuple(modules)), dropped
