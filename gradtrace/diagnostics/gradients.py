"""Rules about where gradients went: accumulation, missing gradients, non-leaf ``.grad``,
vanishing and exploding norms."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gradtrace.diagnostics.describe import fmt, passes, step, where
from gradtrace.diagnostics.diagnostic import Diagnostic
from gradtrace.model.records import BackwardStep

if TYPE_CHECKING:
    from gradtrace.model.trace import ForwardStep, Trace

__all__ = ["accumulation", "no_gradient", "non_leaf_grad", "vanishing_exploding"]

_REACHED = ("accumulate", "capture")


# NOTE [when accumulation is a mistake]
# ``.grad`` adds up every backward pass until it is reset (``.grad = None``, ``zero_grad()``).
# That is a mistake when something uses the sum of two or more passes: an optimizer step (the
# whole sum since the last reset), or the end of the trace (what no step used yet). A gradient
# that lands after a step used the earlier one (a GAN's generator loss flowing through the
# discriminator after its step) is not: the next ``zero_grad()`` drops it unused. A ``.grad``
# held from before the trace counts as one pass. ``torch.autograd.grad`` never adds to ``.grad``.
def accumulation(trace: Trace) -> list[Diagnostic]:
    """Sums of several backward passes in ``.grad`` that an optimizer step or the end of the
    trace used: one warning per step (or end) that used them, naming every tensor."""
    by_use: dict[int | None, list[tuple[str, list[BackwardStep]]]] = {}
    meant: list[tuple[str, list[BackwardStep]]] = []  # summed under no_sync(), then all-reduced
    synced = _synced_passes(trace)
    versions = _steps_by_tensor(trace)
    for index, rows in _accumulations(trace).items():
        leaf = trace.steps[index - 1]
        for use, summed in _sums_used(trace, versions[leaf.tensor_id], rows):
            if _under_no_sync(summed, synced.get(leaf.tensor_id, set())):
                meant.append((leaf.name, summed))
            else:
                by_use.setdefault(use, []).append((leaf.name, summed))
    found = [_accumulation_warning(trace, use, hits) for use, hits in by_use.items()]
    return found + ([_no_sync_note(meant)] if meant else [])


def _synced_passes(trace: Trace) -> dict[int, set[int]]:
    """The passes in which DDP all-reduced each leaf's gradient, by its tensor id."""
    found: dict[int, set[int]] = {}
    for b in trace.backward_steps:
        if b.kind == "all_reduce":
            for e in b.grad_out:
                s = step(trace, e.step)
                if s is not None:
                    found.setdefault(s.tensor_id, set()).add(b.backward_pass)
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


def _accumulations(trace: Trace) -> dict[int, list[BackwardStep]]:
    """The ``AccumulateGrad`` runs of each leaf, by its step."""
    rows: dict[int, list[BackwardStep]] = {}
    for b in trace.backward_steps:
        if b.kind == "accumulate" and step(trace, b.forward_step) is not None:
            rows.setdefault(b.forward_step, []).append(b)  # type: ignore[arg-type]
    return rows


def _steps_by_tensor(trace: Trace) -> dict[int, set[int]]:
    """The steps of each tensor id (a leaf's versions share one), read in one walk rather than
    once per leaf."""
    found: dict[int, set[int]] = {}
    for s in trace.steps:
        found.setdefault(s.tensor_id, set()).add(s.step)
    return found


def _sums_used(trace: Trace, mine: set[int], rows: list[BackwardStep]
               ) -> list[tuple[int | None, list[BackwardStep]]]:
    """(the optimizer call that used it, or None for the end; the passes summed) per misuse of
    the ``.grad`` of the tensor whose steps are ``mine``."""
    timeline: list[tuple[int, int, object]] = [(b.backward_pass, 0, b) for b in rows]
    for e in trace.events:
        if e.kind == "grad_reset" and e.step in mine:
            timeline.append((e.data.get("pass", 0), 1, "reset"))
        elif e.kind == "optimizer_step" and mine & set(e.data.get("steps", ())):
            timeline.append((e.data.get("pass", 0), 1, e.data.get("call")))
    timeline.sort(key=lambda item: item[:2])
    found: list[tuple[int | None, list[BackwardStep]]] = []
    since_reset: list[BackwardStep] = []  # what .grad holds: it is a sum of these
    since_use: list[BackwardStep] = []  # added after a step last used it
    held = False  # .grad held a gradient from before the trace (or an untraced source)
    for _, _, what in timeline:
        if isinstance(what, BackwardStep):
            if not since_reset and what.grad_before is not None:
                held = True
            since_reset.append(what)
            since_use.append(what)
        elif what == "reset":
            since_reset, since_use, held = [], [], False
        else:  # an optimizer step uses the whole sum in .grad
            if len(since_reset) + held >= 2:
                found.append((what if isinstance(what, int) else None, list(since_reset)))
            since_use = []
    # at the end: a sum nothing used yet; what lands after a step used .grad (a GAN's generator
    # loss through the discriminator) is dropped unused by the next reset
    if len(since_use) + (held and since_use == since_reset) >= 2:
        found.append((None, since_use))
    return found


def _accumulation_warning(trace: Trace, use: int | None,
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
        and use is None else ""
    names = [name for name, _ in hits]
    subject = _and([f"{n}.grad" for n in names[:4]] + (
        [f"{len(names) - 4} more"] if len(names) > 4 else []))
    summed = f"the sum of {held}backward pass{'es' if len(numbers) > 1 else ''} " \
             f"{_and([str(n) for n in numbers])}"
    head = (f"optimizer step {use} used {summed} in {subject}" if use is not None
            else f"{subject} hold{'s' if len(names) == 1 else ''} {summed}")
    if last is not None and last.line:
        head += f" (the last at line {last.line})"
    message = (f"{head}{': ' + '; '.join(shown) if shown else ''}. Gradients add up in .grad "
               "across backward calls.")
    reset = (" and ".join(f"{n}.grad = None" for n in names) if len(names) <= 2
             else "each .grad to None")
    return Diagnostic(
        kind="accumulation", message=message,
        fix=(f"Set {reset} (or call optimizer.zero_grad()) before each backward unless you mean "
             "to sum gradients (then pass ignore=['accumulation'])."),
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


def vanishing_exploding(trace: Trace) -> list[Diagnostic]:
    """Leaves and parameters whose gradient norm is below or above the trace's thresholds."""
    low, high = trace.settings.vanishing_below, trace.settings.exploding_above
    norms: dict[int, float] = {}
    for b in trace.backward_steps:
        if b.kind in _REACHED and b.forward_step is not None and b.grad_in is not None \
                and b.grad_in.norm is not None:
            norms[b.forward_step] = b.grad_in.norm
    if any(n < low for n in norms.values()):
        uses = _Uses(trace)
        norms = {i: n for i, n in norms.items() if not (n < low and uses.structural_zero(i, n))}
    found = []
    for kind, order, limit in (("vanishing", False, low), ("exploding", True, high)):
        hits = sorted(((n, i) for i, n in norms.items() if (n > high if order else n < low)),
                      reverse=order)
        if not hits:
            continue
        names = [f"{_name(trace, i)} {n:.3g}" for n, i in hits[:10]]
        more = f" and {len(hits) - 10} more" if len(hits) > 10 else ""
        first = step(trace, hits[0][1])
        side = "below" if kind == "vanishing" else "above"
        found.append(Diagnostic(
            kind,
            f"gradient norms {side} {limit:g}: {', '.join(names)}{more}.",
            ("Check the initialisation, activations that saturate (sigmoid, tanh), and the "
             "learning rate; normalisation layers or residual connections help." if kind ==
             "vanishing" else "Lower the learning rate, clip gradients "
             "(torch.nn.utils.clip_grad_norm_) or normalise the inputs."),
            tensor=first.name if first else None, step=hits[0][1]))
    return found


# NOTE [structural zeros]
# Some gradients are zero by construction, not by shrinking: a weight multiplied by an input that
# is 0, a ReLU that never fired, an attention key bias (softmax ignores a shift shared by all
# keys, so its gradient is 0 up to rounding: 4e-13 in a 2-layer BERT). A vanishing gradient is
# small because what flowed into the op that used the parameter was small; a structural zero is
# small although that was not: the sum over the batch cancelled. So a gradient exactly 0, or
# below 1e-4 of the largest gradient received by an op that used the parameter and summed its
# gradient back over more elements (a reduction), is not reported.
_CANCELLED = 1e-4


class _Uses:
    """Which ops used each tensor, and the gradients they received: indexed in one walk over the
    trace, so that checking every small gradient for a structural zero stays linear."""

    def __init__(self, trace: Trace) -> None:
        self._trace = trace
        self._versions: dict[int, list[int]] = {}  # tensor id -> its steps
        self._users: dict[int, list[ForwardStep]] = {}  # step -> the steps that read it
        for s in trace.steps:
            if s.tensor_id:
                self._versions.setdefault(s.tensor_id, []).append(s.step)
            for i in s.inputs:
                self._users.setdefault(i, []).append(s)
        self._received: dict[int, list[float]] = {}  # step -> norms of what its nodes received
        for b in trace.backward_steps:
            if b.kind == "node" and b.forward_step is not None and b.grad_in is not None \
                    and b.grad_in.norm is not None:
                self._received.setdefault(b.forward_step, []).append(b.grad_in.norm)

    def structural_zero(self, index: int, norm: float) -> bool:
        if norm == 0.0:
            return True
        s = step(self._trace, index)
        mine = {index, *(self._versions.get(s.tensor_id, ()) if s is not None else ())}
        numel = s.value.numel if s is not None else 0
        # only a reduction (a bias summed over the batch) can cancel; an elementwise op cannot
        users = {u.step for m in mine for u in self._users.get(m, ()) if u.value.numel > numel}
        upstream = [n for u in users for n in self._received.get(u, ())]
        return bool(upstream) and norm < _CANCELLED * max(upstream)


def _name(trace: Trace, index: int) -> str:
    s = step(trace, index)
    return s.name if s is not None else f"#{index}"
