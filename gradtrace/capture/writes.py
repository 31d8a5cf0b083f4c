"""Writes into ``.grad`` and into leaves that the rules need to know about: a ``.grad`` zeroed in
place (a reset, as ``zero_grad(set_to_none=False)`` and ``w.grad.zero_()`` do) and a leaf that
requires grad changed with its own gradient outside autograd (a hand-written update such as
``w -= lr * w.grad`` under ``no_grad`` or ``p.data.add_(p.grad, alpha=-lr)``).

Both become events (``grad_reset`` with ``how``, ``hand_update``) in the order they happened
among the optimizer steps and the resets seen elsewhere, each with the number of backward passes
run by then.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from gradtrace.capture.recorder import Recorder

__all__ = ["note_write"]

_ZEROING = frozenset({"zero_", "_foreach_zero_"})
_SCALING = frozenset({"mul_", "fill_", "_foreach_mul_"})  # a reset only when the number is 0
_SEARCH = 32  # steps walked back from an update's operands to find the gradient it used


def note_write(rec: Recorder, op: str, args: tuple[Any, ...], kwargs: dict[str, Any],
               targets: list[torch.Tensor]) -> None:
    """``op`` is about to write ``targets`` in place: note the resets and hand-written updates."""
    if op in _ZEROING or (op in _SCALING and len(args) > 1 and _is_zero(args[1])):
        for t in targets:
            owner = rec.grad_owner(t)
            entry = rec.entry(owner) if owner is not None else None
            if entry is not None:
                rec.add_event("grad_reset", entry.step, rec.locator.where(3)[1],
                              {"pass": len(rec.backward.passes), "how": op})
        return
    if not rec.backward.passes:
        return
    for t in targets:
        if not (t.is_leaf and t.requires_grad):
            continue
        entry = rec.entry(t)
        if entry is not None and _uses_grad_of(rec, entry.number, (*args[1:], *kwargs.values())):
            rec.add_event("hand_update", entry.step, rec.locator.where(3)[1],
                          {"pass": len(rec.backward.passes), "op": op})


def _is_zero(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0


def _uses_grad_of(rec: Recorder, number: int, operands: tuple[Any, ...]) -> bool:
    """Whether an operand is the ``.grad`` of tensor ``number``, or was computed from it."""
    todo: list[int] = []
    for x in operands:
        if not isinstance(x, torch.Tensor):
            continue
        owner = rec.grad_owner(x)
        if owner is not None:
            entry = rec.entry(owner)
            if entry is not None and entry.number == number:
                return True
        entry = rec.entry(x)
        if entry is not None:
            todo.append(entry.step)
    seen: set[int] = set()
    steps = rec.steps
    while todo and len(seen) < _SEARCH:
        i = todo.pop()
        if i in seen:
            continue
        seen.add(i)
        s = steps[i - 1]
        if s.grad_of is not None and steps[s.grad_of - 1].tensor_id == number:
            return True
        todo.extend(s.inputs)
    return False
