"""Rules about where gradients went: accumulation, missing gradients, non-leaf ``.grad``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gradtrace.diagnostics.describe import fmt, passes, step, where
from gradtrace.diagnostics.diagnostic import Diagnostic
from gradtrace.model.ledger import tensor_key
from gradtrace.model.records import BackwardStep

if TYPE_CHECKING:
    from gradtrace.model.trace import ForwardStep, Trace

__all__ = ["accumulation", "no_gradient", "non_leaf_grad"]

_REACHED = ("accumulate", "capture")


# NOTE [when accumulation is a mistake]
# ``.grad`` adds up every backward pass until it is reset (``.grad = None``, ``zero_grad()``,
# ``.grad.zero_()``). Summing is how micro-batches (nanoGPT's four ``loss / 4``) and several
# task losses make one step, so a sum alone is no mistake: it is one when an update (an optimizer
# step, or ``w -= lr * w.grad`` under ``no_grad``) uses a pass that an earlier update already
# used, the forgotten reset. The corpus (tests/corpus/) has 6 correct programs that sum 2 to 4
# passes per update and 3 that forget a reset; each forgotten reset reuses pass 1 at update 2.
# With no update in the trace (the lab's exercises), what ``.grad`` holds at the end is what the
# code reads, so a sum of two passes there is reported, as is a ``.grad`` from before the trace
# plus one. A gradient that lands after the last update (a GAN's generator loss through the
# discriminator) is dropped unused by the next reset. ``torch.autograd.grad`` never adds to
# ``.grad``.
def accumulation(trace: Trace) -> list[Diagnostic]:
    """Updates that used a gradient an earlier update had used (the reset between them was
    forgotten), one warning per update naming every tensor; without updates, a sum of passes
    left in ``.grad`` at the end."""
    ledger = trace.ledger
    by_use: dict[int, list[tuple[str, list[BackwardStep]]]] = {}  # -1: the end of the trace
    meant: list[tuple[str, list[BackwardStep]]] = []  # summed under no_sync(), then all-reduced
    synced = _synced_passes(trace)
    groups: dict[int, int] = {}  # pass count -> the first hand-written update after it
    for u in ledger.uses:
        rows = [b for b in ledger.rows.get(u.tensor, []) if b.backward_pass in u.passes]
        if not rows:
            continue
        if u.reused:  # hand-written updates after one pass count as one update
            e = trace.events[u.event]
            key = u.event if e.kind == "optimizer_step" else groups.setdefault(
                e.data.get("pass", 0), u.event)
            by_use.setdefault(key, []).append((rows[-1].tensor, rows))
        elif len(rows) > 1 and _under_no_sync(rows, synced.get(u.tensor, set())):
            meant.append((rows[-1].tensor, rows))
    if not ledger.any_update:
        for tensor, rows in ledger.left.items():
            if len(rows) + (tensor in ledger.held_before) < 2:
                continue
            if _under_no_sync(rows, synced.get(tensor, set())):
                meant.append((rows[-1].tensor, rows))
            else:
                by_use.setdefault(-1, []).append((rows[-1].tensor, rows))
    found = [_accumulation_warning(trace, use, by_use[use]) for use in sorted(
        by_use, key=lambda i: (i < 0, i))]
    return found + ([_no_sync_note(meant)] if meant else [])


def _synced_passes(trace: Trace) -> dict[int, set[int]]:
    """The passes in which DDP all-reduced each leaf's gradient, by its tensor id."""
    found: dict[int, set[int]] = {}
    for b in trace.backward_steps:
        if b.kind == "all_reduce":
            for e in b.grad_out:
                s = step(trace, e.step)
                if s is not None:
                    found.setdefault(tensor_key(s), set()).add(b.backward_pass)
    return found


def _under_no_sync(summed: list[BackwardStep], synced: set[int]) -> bool:
    """Passes that DDP left local (``no_sync()``), then one it all-reduced: the sum is meant."""
    passes = [b.backward_pass for b in summed]
    return bool(synced) and passes[-1] in synced and not synced & set(passes[:-1])


def _no_sync_note(meant: list[tuple[str, list[BackwardStep]]]) -> Diagnostic:
    names = [name for name, _ in meant]
    numbers = sorted({b.backward_pass for _, rows in meant for b in rows})
    last = numbers[-1]
    return Diagnostic(
        kind="no_sync", tensor=names[0], tensors=tuple(names),
        step=meant[0][1][-1].forward_step, backward_step=meant[0][1][-1].step,
        message=(f"backward pass{'es' if len(numbers) > 2 else ''} "
                 f"{_and([str(n) for n in numbers[:-1]])} ran under DDP's "
                 f"no_sync(): {'its' if len(numbers) == 2 else 'their'} gradients stayed local "
                 f"and added up in .grad; pass {last} "
                 f"then all-reduced the sum, so every rank holds the mean over ranks of all "
                 f"{len(numbers)} micro-batches (in {', '.join(f'{n}.grad' for n in names[:3])}"
                 f"{f' and {len(names) - 3} more' if len(names) > 3 else ''})."),
        fix=("This is gradient accumulation as DDP means it; scale each micro-batch's loss by "
             f"1/{len(numbers)} if you want the mean over micro-batches rather than their sum."))


def _accumulation_warning(trace: Trace, use: int,
                          hits: list[tuple[str, list[BackwardStep]]]) -> Diagnostic:
    by_index = passes(trace)
    numbers = sorted({b.backward_pass for _, rows in hits for b in rows})
    shown: list[str] = []  # the sums, for the first tensors whose values are short enough to read
    for name, rows in hits:
        parts = ([fmt(rows[0].grad_before)] if rows[0].grad_before is not None else []) + [
            fmt(b.grad_in) for b in rows]
        total = fmt(rows[-1].grad_after) if rows[-1].grad_after is not None else "?"
        if len(shown) < 2 and max(len(p) for p in [*parts, total]) <= _SHORT:
            shown.append(f"{name}.grad = {' + '.join(parts)} = {total}")
    last = by_index.get(numbers[-1]) if numbers else None
    held = "a gradient from before and " if hits[0][1][0].grad_before is not None \
        and use < 0 else ""
    names = [name for name, _ in hits]
    subject = _and([f"{n}.grad" for n in names[:4]] + (
        [f"{len(names) - 4} more"] if len(names) > 4 else []))
    summed = f"the sum of {held}backward pass{'es' if len(numbers) > 1 else ''} " \
             f"{_and([str(n) for n in numbers])}"
    if use >= 0:
        e = trace.events[use]
        what = (f"optimizer step {e.data.get('call')}" if e.kind == "optimizer_step"
                else f"the update{where(e.line)}")
        head = f"{what} used {summed} in {subject}"
        why = (f"pass {numbers[0]} had already been used by an earlier update: the reset of "
               ".grad between the updates is missing")
    else:
        head = f"{subject} hold{'s' if len(names) == 1 else ''} {summed}"
        why = "Gradients add up in .grad across backward calls"
    if last is not None and last.line:
        head += f" (the last at line {last.line})"
    message = f"{head}{': ' + '; '.join(shown) if shown else ''}. {why}."
    reset = (" and ".join(f"{n}.grad = None" for n in names) if len(names) <= 2
             else "each .grad to None")
    fix = (f"Set {reset} (or call optimizer.zero_grad()) before each backward unless you mean "
           "to sum gradients (then pass ignore=['accumulation'])." if use < 0 else
           f"Reset .grad once per update: call optimizer.zero_grad() (or set {reset}) after "
           "each step, before the next backward; passes summed before one step need no reset.")
    return Diagnostic(
        kind="accumulation", message=message, fix=fix,
        tensor=names[0], tensors=tuple(names), step=hits[0][1][-1].forward_step,
        backward_step=hits[0][1][-1].step, line=last.line if last else None)


_SHORT = 32  # the longest gradient preview written out in a grouped warning


def _and(words: list[str]) -> str:
    return ", ".join(words[:-1]) + " and " + words[-1] if len(words) > 1 else "".join(words)


def no_gradient(trace: Trace) -> list[Diagnostic]:
    """A tensor that requires grad but got no gradient from any traced backward pass."""
    full = [p for p in trace.passes if p.call in ("backward", "autograd.backward") and not p.error]
    if not full:
        return []
    reached = {b.forward_step for b in trace.backward_steps if b.kind in _REACHED}
    # a leaf's later versions (an update under no_grad, an optimizer step) share its .grad
    reached_tensors = {s.tensor_id for s in trace.steps if s.step in reached and s.tensor_id}
    latest_root = max((r for p in full for r in p.roots), default=0)
    ancestors = _ancestors(trace, [r for p in full for r in p.roots])
    found = []
    for s in trace.steps:
        if not (s.is_leaf and s.requires_grad) or s.step in reached or s.step > latest_root \
                or s.origin == "update" or s.tensor_id in reached_tensors:
            continue
        cut = _cut_point(trace, s, ancestors)
        roots = ", ".join(r.name for p in full for r in map(lambda i: step(trace, i), p.roots)
                          if r is not None)
        if cut is not None:
            how, fix = _how_cut(cut, s.name)
            message = (f"{s.name} requires grad but the backward of {roots} gave it no gradient: "
                       f"the path from {s.name} was cut at {cut.name}{where(cut.line)} by {how}.")
        else:
            message = (f"{s.name} requires grad but the backward of {roots} gave it no gradient: "
                       f"{roots} was not computed from {s.name}.")
            fix = (f"Use {s.name} in the computation you call backward on, or set "
                   "requires_grad=False.")
        found.append(Diagnostic("no_gradient", message, fix, tensor=s.name, step=s.step,
                                line=cut.line if cut is not None else s.line))
    for e in trace.events:
        if e.kind == "unused_parameter":
            found.append(Diagnostic(
                "no_gradient",
                f"{e.name} requires grad but its module never used it, so it got no gradient.",
                "Remove the unused parameter or set its requires_grad=False.", tensor=e.name))
    return found


def _ancestors(trace: Trace, roots: list[int]) -> set[int]:
    """Every step the roots were computed from."""
    seen: set[int] = set()
    todo = list(roots)
    while todo:
        i = todo.pop()
        if i not in seen:
            seen.add(i)
            s = step(trace, i)
            todo.extend(s.inputs if s is not None else ())
    return seen


def _cut_point(trace: Trace, leaf: ForwardStep, ancestors: set[int]) -> ForwardStep | None:
    """The first step on the way from ``leaf`` to a backward root whose output needs no grad."""
    needs = {leaf.step}
    for s in trace.steps[leaf.step:]:
        if not any(i in needs for i in s.inputs):
            continue
        if s.requires_grad:
            needs.add(s.step)
        elif s.step in ancestors:
            return s
    return None


def _how_cut(s: ForwardStep, leaf: str) -> tuple[str, str]:
    """How ``s`` dropped the gradient, and the fix."""
    if s.op in ("detach", "detach_"):
        return "detach()", f"Remove the detach() on the path from {leaf} if {leaf} should learn."
    if s.op == "data":
        return ".data", f"Use the tensor itself instead of its .data on the path from {leaf}."
    if not s.value.dtype.startswith(("float", "complex", "bfloat")):
        return (f"{s.op}, whose {s.value.dtype} result carries no gradient",
                "Keep the computation in floating point (no .long(), .int(), argmax or round "
                "on the path to the loss).")
    if not s.grad_mode:
        return (f"{s.op} run under torch.no_grad()",
                f"Compute {s.name} outside torch.no_grad() if {leaf}'s gradient is wanted.")
    return s.op, f"Check why {s.name} does not require grad although {leaf} does."


def non_leaf_grad(trace: Trace) -> list[Diagnostic]:
    """The code read ``.grad`` of a non-leaf tensor that was not retained (it is None)."""
    found = []
    for e in trace.events:
        if e.kind != "grad_read":
            continue
        s = step(trace, e.step)
        if e.data.get("retained_by_gradtrace"):
            found.append(Diagnostic(
                "non_leaf_grad",
                f"{e.name}.grad was read{where(e.line)}: {e.name} is not a leaf, so plain PyTorch "
                f"gives None there. gradtrace retained it (retain_grad=True), so the traced code "
                f"saw a value it would not see untraced.",
                f"Call {e.name}.retain_grad() before backward if you mean to read it, or read "
                f"the .grad of a leaf.", tensor=e.name, step=e.step, line=e.line))
            continue
        seen = [b.grad_in for b in trace.backward_steps
                if b.forward_step == e.step and b.kind == "node" and b.grad_in is not None]
        saw = f" gradtrace saw its gradient: {fmt(seen[-1])}." if seen else ""
        op = f" (it was computed by {s.op})" if s is not None and s.op else ""
        found.append(Diagnostic(
            "non_leaf_grad",
            f"{e.name}.grad is None{where(e.line)}: {e.name} is not a leaf{op}, so PyTorch does "
            f"not keep its gradient.{saw}",
            f"Call {e.name}.retain_grad() before backward, or read the .grad of a leaf.",
            tensor=e.name, step=e.step, line=e.line))
    return found
