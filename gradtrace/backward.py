"""Hooks on autograd nodes that record each backward step in the order the engine runs it.

A node's pre-hook sees the gradient its tensor received; its post-hook sees what it sent to each
input. ``AccumulateGrad`` nodes also read the leaf's ``.grad`` before and after, which is how
accumulation across backward calls is caught. Every handle is kept and removed by :meth:`close`.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

import torch

from gradtrace.summary import Keeper

__all__ = ["BackwardRecorder", "RawBackward", "RawPass"]


@dataclass
class RawPass:
    index: int
    call: str
    roots: list[int]
    line: int | None = None
    source: str | None = None
    graph_task: int | None = None
    error: str | None = None


@dataclass
class RawBackward:
    kind: str
    node: str
    owner: int | None
    backward_pass: int
    grad_in: int | None = None
    others: list[tuple[int, int | None]] = field(default_factory=list)
    edges: list[tuple[int | None, str, int | None]] = field(default_factory=list)
    before: int | None = None
    after: int | None = None
    finished: bool = False


class BackwardRecorder:
    """Owns the node hooks of one trace and the backward steps they record."""

    def __init__(self, keeper: Keeper) -> None:
        self.keeper = keeper
        self.steps: list[RawBackward] = []
        self.passes: list[RawPass] = []
        self._current: RawPass | None = None
        self._handles: list[Any] = []

    # -- passes -------------------------------------------------------------------------------
    def begin(self, call: str, roots: list[int], line: int | None, source: str | None) -> RawPass:
        p = RawPass(len(self.passes) + 1, call, roots, line, source)
        self.passes.append(p)
        self._current = p
        return p

    def end(self, p: RawPass, error: BaseException | None = None) -> None:
        if error is not None:
            p.error = f"{type(error).__name__}: {error}"
        self._current = None

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
        return implicit.index

    # -- hooks --------------------------------------------------------------------------------
    def hook_node(self, node: Any, kind: str, outputs: list[tuple[int, int]],
                  edges: list[tuple[int | None, str]]) -> None:
        """Record every run of ``node``; ``outputs`` are (output_nr, step) of its tensors."""
        name = node.name()
        keep = self.keeper.keep
        running: list[RawBackward] = []

        def pre(grad_outputs: tuple[torch.Tensor | None, ...]) -> None:
            received = [(step, _kept(keep, grad_outputs, nr)) for nr, step in outputs]
            raw = RawBackward(kind, name, outputs[0][1] if outputs else None, self._pass_index())
            if received:
                raw.grad_in, raw.others = received[0][1], received[1:]
            self.steps.append(raw)
            running.append(raw)

        def post(grad_inputs: tuple[torch.Tensor | None, ...], _: Any) -> None:
            if not running:
                return
            raw = running.pop()
            raw.finished = True
            raw.edges = [(*(edges[i] if i < len(edges) else (None, "")), _kept(keep, grad_inputs, i))
                         for i in range(len(grad_inputs))]

        self._handles.append(node.register_prehook(_quiet(pre)))
        self._handles.append(node.register_hook(_quiet(post)))

    def hook_leaf(self, node: Any, leaf: torch.Tensor, step: int) -> None:
        """Record each ``AccumulateGrad`` run for ``leaf`` with its ``.grad`` before and after."""
        ref = weakref.ref(leaf)
        keeper = self.keeper
        running: list[RawBackward] = []

        def pre(grad_outputs: tuple[torch.Tensor | None, ...]) -> None:
            raw = RawBackward("accumulate", "AccumulateGrad", step, self._pass_index())
            raw.grad_in = _kept(keeper.keep, grad_outputs, 0)
            t = ref()
            if t is not None and t.grad is not None:
                raw.before = keeper.snapshot(t.grad)
            self.steps.append(raw)
            running.append(raw)

        def post(_: Any, __: Any) -> None:
            if not running:
                return
            raw = running.pop()
            raw.finished = True
            t = ref()
            if raw.before is None:
                raw.after = raw.grad_in  # a fresh .grad is what arrived
            elif t is not None and t.grad is not None:
                raw.after = keeper.snapshot(t.grad)

        self._handles.append(node.register_prehook(_quiet(pre)))
        self._handles.append(node.register_hook(_quiet(post)))

    def capture(self, step: int, grad: torch.Tensor | None) -> None:
        """Record a gradient that ``torch.autograd.grad`` returned for the tensor of ``step``."""
        index = self._current.index if self._current else self._pass_index()
        for b in reversed(self.steps):
            if b.backward_pass != index:
                break
            if b.owner == step and b.kind in ("node", "accumulate"):
                return  # its node ran too (to reach another input): that step holds the gradient
        raw = RawBackward("capture", "autograd.grad", step, index, finished=True)
        raw.grad_in = None if grad is None else self.keeper.keep(grad)
        self.steps.append(raw)

    def close(self) -> None:
        """Remove every hook this recorder installed."""
        handles, self._handles = self._handles, []
        for h in handles:
            h.remove()


def _kept(keep: Any, grads: tuple[torch.Tensor | None, ...], i: int) -> int | None:
    g = grads[i] if i < len(grads) else None
    return None if g is None else keep(g)


def _quiet(hook: Any) -> Any:
    """Run a recording hook with torch functions undispatched and nothing returned."""

    def wrapper(*args: Any) -> None:
        with torch._C.DisableTorchFunction():
            hook(*args)

    wrapper._gradtrace = True  # type: ignore[attr-defined]
    return wrapper
