"""What each ``.grad`` held whenever something used it: the backward passes an update summed.

A leaf's ``.grad`` adds up every backward pass until it is reset. Read from the trace's records in
the order things happened (each event holds the number of passes run by then): the
``AccumulateGrad`` runs of each leaf, its resets (``grad_reset``: ``= None``, ``zero_grad()``,
``.grad.zero_()``), and the updates that used ``.grad`` (``optimizer_step``, and ``hand_update``
for a leaf changed with its own gradient under ``no_grad``).

Example:
    >>> from gradtrace.model.trace import Trace
    >>> Ledger(Trace()).uses
    []
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from gradtrace.model.records import BackwardStep, Event, ForwardStep
    from gradtrace.model.trace import Trace

__all__ = ["Use", "Ledger", "tensor_key"]


class Use(NamedTuple):
    """One update of one tensor and what its ``.grad`` held then.

    ``event`` is the index of the update in ``trace.events``; ``step`` the forward step naming the
    tensor; ``passes`` the backward passes summed in ``.grad`` (0: a gradient held from before the
    trace); ``reused`` those of them an earlier update of this tensor already used; ``idle`` is
    True when the optimizer skipped the tensor (its ``.grad`` was None); ``emptied`` is the event
    index of a reset that dropped the gradient of the latest backward pass before this update.
    """

    event: int
    tensor: int
    step: int
    passes: tuple[int, ...]
    reused: tuple[int, ...]
    idle: bool
    emptied: int | None
    line: int | None


_UPDATES = ("optimizer_step", "hand_update")


class Ledger:
    """Every update of every tensor with what its ``.grad`` held, and what was left at the end."""

    def __init__(self, trace: Trace) -> None:
        steps = trace.steps
        self.rows: dict[int, list[BackwardStep]] = {}  # tensor id -> its AccumulateGrad runs
        for b in trace.backward_steps:
            if b.kind == "accumulate" and b.forward_step is not None \
                    and 0 < b.forward_step <= len(steps):
                self.rows.setdefault(tensor_key(steps[b.forward_step - 1]), []).append(b)
        # tensor -> (passes by then, 1, event, what)
        timeline: dict[int, list[tuple[int, int, int, str]]] = {}
        for i, e in enumerate(trace.events):
            for tensor, what in _touches(trace, e):
                timeline.setdefault(tensor, []).append((e.data.get("pass", 0), 1, i, what))
        self.any_update = any(e.kind in _UPDATES for e in trace.events)
        self.uses: list[Use] = []
        self.left: dict[int, list[BackwardStep]] = {}  # tensor -> the passes .grad held at the end
        self.updated: set[int] = set()  # tensors some update changed
        self.held_before: set[int] = set()  # tensors whose .grad at the end sums a gradient
        # from before the trace with the passes in ``left``
        for tensor in [*self.rows, *(t for t in timeline if t not in self.rows)]:
            self._follow(trace, tensor, self.rows.get(tensor, []), timeline.get(tensor, []))
        self._by_update = {(u.event, u.tensor): u for u in self.uses}

    def _follow(self, trace: Trace, tensor: int, rows: list[BackwardStep],
                marks: list[tuple[int, int, int, str]]) -> None:
        order = sorted([(b.backward_pass, 0, k, "pass") for k, b in enumerate(rows)] + marks)
        held: list[BackwardStep] = []  # the passes .grad sums now
        before = False  # .grad held a gradient from before the trace
        fresh = True  # nothing reset or added to .grad yet: a .grad there came from before
        used: set[int] = set()  # passes some update used
        reset: tuple[int, int] | None = None  # (event, pass count) of the last reset
        last = 0  # the last pass that reached the tensor
        for count, _, index, what in order:
            if what == "pass":
                b = rows[index]
                before = before or (fresh and b.grad_before is not None)
                fresh = False
                held.append(b)
                last = b.backward_pass
            elif what == "reset":
                held, before, used, reset, fresh = [], False, set(), (index, count), False
            else:
                e = trace.events[index]
                passes = ((0,) if before else ()) + tuple(b.backward_pass for b in held)
                emptied = reset[0] if (not held and reset is not None and count == reset[1]
                                       and last == count) else None
                step = e.step if e.step else _step_of(trace, e, tensor)
                self.uses.append(Use(index, tensor, step, passes,
                                     tuple(p for p in passes if p in used), what == "idle",
                                     emptied, e.line))
                used.update(passes)
                if what != "idle":
                    self.updated.add(tensor)
        if held:
            self.left[tensor] = held
            if before:
                self.held_before.add(tensor)

    def passes_of(self, event: int, tensor: int) -> int:
        """How many backward passes the ``.grad`` that update ``event`` used summed."""
        u = self._by_update.get((event, tensor))
        return len(u.passes) if u is not None else 0


def tensor_key(s: ForwardStep) -> int:
    """Which tensor a step's value is: its ``tensor_id``, or for a step built by hand without
    one, a key of the step's own."""
    return s.tensor_id or -s.step


def _touches(trace: Trace, e: Event) -> list[tuple[int, str]]:
    """(tensor id, what) for each tensor an event resets or updates."""
    steps = trace.steps
    if e.kind == "grad_reset" and e.step:
        return [(tensor_key(steps[e.step - 1]), "reset")]
    if e.kind == "hand_update" and e.step:
        return [(tensor_key(steps[e.step - 1]), "update")]
    if e.kind == "optimizer_step":
        return [(tensor_key(steps[s - 1]), "update") for s in e.data.get("steps", ())] + [
            (tensor_key(steps[s - 1]), "idle") for s in e.data.get("idle", ())]
    return []


def _step_of(trace: Trace, e: Event, tensor: int) -> int:
    for s in (*e.data.get("steps", ()), *e.data.get("idle", ())):
        if tensor_key(trace.steps[s - 1]) == tensor:
            return int(s)
    return 0
