"""The graph's plain data: :class:`GraphNode` (a tensor, a collapsed module or elided steps) and
:class:`Graph`. :mod:`~gradtrace.views.graph` builds them; ``dot.py`` and ``tree.py`` draw them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Union

__all__ = ["Graph", "GraphNode", "MAX_NODES", "EDGE_LABELS_UP_TO", "EXPLORE_ABOVE",
           "Collapse"]

#: Nodes (op nodes included) drawn before big graphs are collapsed or cut.
MAX_NODES = 300
#: Graphs of at most this many nodes print on each edge the gradient sent along it.
EDGE_LABELS_UP_TO = 40
#: Graphs of more nodes than this show as the explorer in a notebook's report (the pan/zoom
#: view of :mod:`gradtrace.views.explorer`); smaller ones as a picture with gradients on edges.
EXPLORE_ABOVE = EDGE_LABELS_UP_TO
#: ``"auto"``, True (every top-level module), False/None, or module paths such as ``"model.fc1"``.
Collapse = Union[bool, str, Iterable[str], None]  # noqa: UP007 (evaluated on Python 3.9)


@dataclass(frozen=True)
class GraphNode:
    """One box of the graph: a tensor, a collapsed module (``kind="module"``) or elided steps.

    ``role`` is ``leaf``, ``parameter``, ``constant`` (needs no grad), ``output``, ``tensor``,
    ``module`` or ``elided``. ``grad`` is None when no backward pass ran. ``order`` holds the
    backward steps that ran on the tensor itself (``AccumulateGrad``, an ``autograd.grad``
    capture); ``op_order`` those of the op's ``grad_fn`` and the nodes inside it. ``op_node``:
    the op is drawn as its own node between the inputs and the tensor. ``input_grads`` holds,
    beside ``inputs``, the gradient the op's backward sent along each input edge (``""``: none).
    """

    id: str
    kind: str
    name: str
    role: str
    op: str = ""
    grad_fn: str = ""
    shape: str = ""
    value: str = ""
    grad: str | None = None
    order: tuple[int, ...] = ()
    op_order: tuple[int, ...] = ()
    warnings: tuple[str, ...] = ()
    inputs: tuple[str, ...] = ()
    module: str | None = None
    steps: tuple[int, ...] = ()
    op_node: bool = False
    input_grads: tuple[str, ...] = ()


@dataclass(frozen=True)
class Graph:
    """Nodes in step order, the module paths drawn as clusters (parents first), and notes."""

    nodes: tuple[GraphNode, ...] = ()
    modules: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        """Nodes Graphviz draws: boxes plus op nodes."""
        return len(self.nodes) + sum(n.op_node for n in self.nodes)
