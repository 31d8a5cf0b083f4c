"""Hooks on autograd nodes that record each backward step in the order the engine runs it.

# NOTE [one hook per node]
# A node's post-hook sees both the gradient it received (``grad_outputs``) and what it sent to
# each input (``grad_inputs``), and post-hooks fire in the order the engine runs the nodes, so
# one hook per node is enough. Leaves are read at their ``AccumulateGrad`` node after it added
# to ``.grad``; what ``.grad`` held before is read when each pass begins. Gradients sent to a
# leaf are not held by the sending node's hook: holding them would stop ``AccumulateGrad`` from
# adopting the tensor as ``.grad`` and make it copy instead; the leaf's own record has them.
# Likewise an edge into a node that gets nothing else is filled from that node's record, and
# big gradients are summarised on the spot (``Keeper.keep_gradient``), never held.
# Every handle is kept and removed by :meth:`BackwardRecorder.close`.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch

from gradtrace.capture.keeper import Keeper

__all__ = ["BackwardRecorder", "EdgePlan", "RawBackward", "RawEdge", "RawPass"]


@dataclass(slots=True)
class RawPass:
    index: int
    call: str
    roots: list[int]
    line: int | None = None
    source: str | None = None
    graph_task: int | None = None
    error: str | None = None


@dataclass(slots=True)
class EdgePlan:
    """Where one input edge of a hooked node leads, worked out when a backward pass begins.

    ``step`` is the forward step of the tensor at the other end (None: an untraced tensor or a
    node inside an op, named by ``label``). ``target`` is the record that holds what the target
    received: a step, an inner node's key, or None. A ``derived`` edge is the only one into its
    target, so the hook does not keep its gradient: :mod:`~gradtrace.capture.build` reads it from
    the target's record. The hook reads the plan each time it runs, so when a later pass finds a
    second edge into the same target, :meth:`keep_own_gradient` applies to the hooks already in.
    """

    step: int | None
    label: str
    target: Any
    derived: bool

    def keep_own_gradient(self) -> None:
        """Another edge leads into the same target: this one carries only a share, so keep it."""
        self.derived = False


_NO_EDGE = EdgePlan(None, "", None, False)  # an input that needs no gradient; never changed


class RawEdge(NamedTuple):
    """What one run of a node sent along one edge.

    ``grad`` is the keeper's index of the gradient, or None when none was kept: none was sent,
    or the edge was derived (see :class:`EdgePlan`).
    """

    step: int | None
    label: str
    grad: int | None
    target: Any


class _HookedLeaf(NamedTuple):
    ref: weakref.ref[torch.Tensor]
    step: int


@dataclass(slots=True)
class RawBackward:
    kind: str
    node: str
    owner: int | None
    backward_pass: int
    grad_in: int | None = None
    # (step, gradient) of a node's other outputs; an all-reduce's local gradients: most rows
    # have none, and an empty tuple is one object for all of them (a list each cost a
    # collector-tracked object per backward step)
    others: Sequence[tuple[int, int | None]] = ()
    edges: list[RawEdge] = field(default_factory=list)
    before: int | None = None
    after: int | None = None
    key: Any = None  # an inner node's (sequence number, name)
    local: Sequence[RawEdge] = ()


class BackwardRecorder:
    """Owns the node hooks of one trace and the backward steps they record."""

    def __init__(self, keeper: Keeper) -> None:
        self.keeper = keeper
        self.steps: list[RawBackward] = []
        self.passes: list[RawPass] = []
        self._current: RawPass | None = None
        self._handles: list[Any] = []
        self._leaves: dict[int, _HookedLeaf] = {}  # by id(leaf)
        self._before: dict[int, int] = {}  # step -> its .grad when the current pass began

    # -- passes -------------------------------------------------------------------------------
    def begin(self, call: str, roots: list[int], line: int | None, source: str | None) -> RawPass:
        p = RawPass(len(self.passes) + 1, call, roots, line, source)
        self.passes.append(p)
        self._current = p
        self._read_grads_before()
        return p

    def end(self, p: RawPass, error: BaseException | None = None) -> None:
        if error is not None:
            p.error = f"{type(error).__name__}: {error}"
        self._current = None

    def _read_grads_before(self) -> None:
        """Read every hooked leaf's ``.grad`` before the engine adds to it."""
        self._before = {}
        for ref, step in self._leaves.values():
            t = ref()
            if t is not None and t.grad is not None:
                self._before[step] = self.keeper.snapshot(t.grad)

    def _pass_index(self) -> int:
        task = torch._C._current_graph_task_id()
        p = self._current
        if p is not None and p.graph_task in (None, task):
            p.graph_task = task
            return p.index
        last = self.passes[-1] if self.passes else None
        if last is not None and last.graph_task == task and last.call == "":
            return last.index
        # the engine ran without a traced call starting it (a backward inside a backward, say)
        implicit = RawPass(len(self.passes) + 1, "", [], graph_task=task)
        self.passes.append(implicit)
        self._read_grads_before()
        return implicit.index

    # -- hooks --------------------------------------------------------------------------------
    def hook_node(self, node: Any, key: tuple[int, str], kind: str,
                  outputs: list[tuple[int, int]],
                  edges: list[EdgePlan]) -> None:
        """Record every run of ``node`` (``key`` is its sequence number and name);
        ``outputs`` are (output_nr, step) of its tensors and ``edges`` the plan of each input:
        a derived edge's gradient is the one its target alone received, so it is not kept twice
        (see build)."""
        keep = self.keeper.keep_gradient
        owner = outputs[0][1] if outputs else None
        name = key[1]
        inner_key = key if kind == "inner" else None

        def post(grad_inputs: tuple[torch.Tensor | None, ...],
                 grad_outputs: tuple[torch.Tensor | None, ...]) -> None:
            with torch._C.DisableTorchFunction():
                raw = RawBackward(kind, name, owner, self._pass_index(), key=inner_key)
                if outputs:
                    received = [(step, _kept(keep, grad_outputs, nr)) for nr, step in outputs]
                    raw.grad_in, raw.others = received[0][1], received[1:]
                kept = raw.edges
                for i in range(len(grad_inputs)):
                    plan = edges[i] if i < len(edges) else _NO_EDGE
                    grad = None if plan.derived else _kept(keep, grad_inputs, i)
                    kept.append(RawEdge(plan.step, plan.label, grad, plan.target))
                self.steps.append(raw)

        self._handles.append(node.register_hook(post))

    def hook_leaf(self, node: Any, leaf: torch.Tensor, step: int) -> None:
        """Record each ``AccumulateGrad`` run for ``leaf`` with its ``.grad`` before and after."""
        ref = weakref.ref(leaf)
        self._leaves[id(leaf)] = _HookedLeaf(ref, step)
        keeper = self.keeper

        def post(_: Any, grad_outputs: tuple[torch.Tensor | None, ...]) -> None:
            with torch._C.DisableTorchFunction():
                raw = RawBackward("accumulate", "AccumulateGrad", step, self._pass_index())
                t = ref()
                grad = t.grad if t is not None else None
                raw.before = self._before.pop(step, None)
                # .grad is summarised now: torch writes it where no hook sees (see keep_settled)
                if raw.before is None and grad is not None:
                    # a fresh .grad is what arrived, often the very tensor
                    raw.grad_in = raw.after = keeper.keep_settled(grad)
                else:
                    raw.grad_in = _kept(keeper.keep, grad_outputs, 0)
                    raw.after = None if grad is None else keeper.keep_settled(grad)
                self.steps.append(raw)

        self._handles.append(node.register_hook(post))

    def all_reduced(self, rows: list[tuple[int, RawBackward]]) -> None:
        """Put each all-reduce row where it completed: ``(position, row)``, positions counted
        in the steps recorded before any of them was added."""
        for offset, (position, raw) in enumerate(sorted(rows, key=lambda r: r[0])):
            self.steps.insert(position + offset, raw)

    def capture(self, step: int, grad: torch.Tensor | None) -> None:
        """Record a gradient that ``torch.autograd.grad`` returned for the tensor of ``step``."""
        index = self._current.index if self._current else self._pass_index()
        for b in reversed(self.steps):
            if b.backward_pass != index:
                break
            if b.owner == step and b.kind in ("node", "accumulate"):
                return  # its node ran too (to reach another input): that step holds the gradient
        raw = RawBackward("capture", "autograd.grad", step, index)
        raw.grad_in = None if grad is None else self.keeper.keep(grad)
        self.steps.append(raw)

    def final_grads(self) -> list[tuple[int, int | None]]:
        """Each hooked leaf's step and its ``.grad`` now, as the traced code leaves it."""
        out = []
        with torch._C.DisableTorchFunction():
            for ref, step in self._leaves.values():
                t = ref()
                if t is not None:
                    grad = t.grad
                    out.append((step, None if grad is None else self.keeper.keep_final(grad)))
        return out

    def close(self) -> None:
        """Remove every hook this recorder installed."""
        handles, self._handles = self._handles, []
        for h in handles:
            h.remove()


def _kept(keep: Any, grads: tuple[torch.Tensor | None, ...], i: int) -> int | None:
    g = grads[i] if i < len(grads) else None
    return None if g is None else keep(g)
