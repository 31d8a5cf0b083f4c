"""Rules about updates: their size, parameters they leave out, steps taken on reset gradients,
and training with Dropout or BatchNorm left in eval mode.

# NOTE [update sizes]
# makemore part 3 plots ‖Δp‖/‖p‖ for the weights (2-D and up) and aims at about 1e-3; a (1, n)
# layer into one output is a vector, and counts with the biases. The ratio is taken against the
# weight before the step: against the weight after it, an update that swamps the weight reads
# as 1 however large it is (a learning rate of 50 gives 0.95 after, 5 to 15 before). Biases and
# norm layers' parameters are often initialised to 0 (a ResNet block's batch-norm biases): their
# first update is all of their value, a ratio of 1 that means nothing. So only weights of two or
# more dimensions count, and only when they held something before the step (rms above 1e-6).
# Over the corpus's correct programs the ratio of such weights stays within 1e-5 and 0.53 (the
# largest: d2l's softmax regression, weights drawn with std 0.01 and SGD at lr 0.1, first step);
# a learning rate of 50 gives 5 to 15 and a diverging regression 1.6 to 4. The bound above is 1:
# a step larger than the weight itself.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from gradtrace.diagnostics.describe import where
from gradtrace.diagnostics.diagnostic import Diagnostic
from gradtrace.model.updates import updates

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace

__all__ = ["update_ratio", "not_updated", "step_without_gradient", "eval_mode"]

_HELD = 1e-6  # rms of a weight below which it counts as zero before the step


def update_ratio(trace: Trace) -> list[Diagnostic]:
    """Weights whose update ``‖Δp‖/‖p‖`` was above or below the trace's bounds, grouped.

    The ratio is usually about 1e-3 (1e-4 to 1e-1); far above, the learning rate is too high
    and training diverges; far below, the parameter barely moves. An exactly zero update (a
    gradient of zero, a step skipped) is not reported.
    """
    low, high = trace.settings.update_ratio_below, trace.settings.update_ratio_above
    judged = [(u, u.update_norm / u.before_norm) for u in updates(trace)
              if sum(d > 1 for d in u.shape) >= 2 and not math.isnan(u.before_norm)
              and u.before_norm > _HELD * math.sqrt(max(1, math.prod(u.shape)))]
    found = []
    for side, hits in (("above", [u._replace(ratio=r) for u, r in judged if r > high]),
                       ("below", [u._replace(ratio=r) for u, r in judged if 0 < r < low])):
        if not hits:
            continue
        worst = max(hits, key=lambda u: u.ratio) if side == "above" else min(
            hits, key=lambda u: u.ratio)
        names = list(dict.fromkeys(u.parameter for u in hits))
        listed = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        limit = high if side == "above" else low
        fix = ("Lower the learning rate (or clip gradients); the update of a weight is "
               "usually about a thousandth of its size." if side == "above" else
               "Raise the learning rate, or check that the parameter is meant to train.")
        found.append(Diagnostic(
            "update_ratio",
            f"optimizer updates ‖Δp‖/‖p‖ (p before the step) {side} {limit:g} for {listed}: "
            f"the largest departure is {worst.parameter} at {worst.ratio:.3g} in "
            f"{worst.optimizer} step "
            f"{worst.call}{where(worst.line)}.",
            fix, tensor=names[0], tensors=tuple(names), step=worst.step, line=worst.line))
    return found


def not_updated(trace: Trace) -> list[Diagnostic]:
    """Tensors that got gradients in passes on both sides of an update of other tensors, yet no
    update ever changed them: left out of the optimizer."""
    ledger = trace.ledger
    if not ledger.updated:
        return []
    counts = [(u.event, trace.events[u.event].data.get("pass", 0)) for u in ledger.uses
              if not u.idle]
    used = {s.name[:-5] for s in trace.steps if s.op == "grad" and s.name.endswith(".grad")}
    missed: list[tuple[str, int, int]] = []  # (name, the first update that left it out, step)
    for tensor, rows in ledger.rows.items():
        if tensor in ledger.updated or rows[-1].tensor in used:  # its .grad read: an input's
            continue
        first, last = rows[0].backward_pass, rows[-1].backward_pass
        between = [e for e, count in counts if first <= count < last]
        if between:
            missed.append((rows[-1].tensor, between[0], rows[0].forward_step or 0))
    if not missed:
        return []
    missed.sort(key=lambda m: m[2])
    e = trace.events[missed[0][1]]
    names = list(dict.fromkeys(n for n, _, _ in missed))
    what = (f"optimizer step {e.data.get('call')}" if e.kind == "optimizer_step"
            else "the update")
    others = len(ledger.updated)
    return [Diagnostic(
        "not_updated",
        f"{_list(names)} got gradients but no update changed "
        f"{'it' if len(names) == 1 else 'them'}, while {what}{where(e.line)} updated "
        f"{others} other tensor{'s' if others != 1 else ''}: "
        f"{'it is' if len(names) == 1 else 'they are'} not in the optimizer.",
        "Give the optimizer every parameter (build it after the model, from model.parameters(); "
        "keep layers in nn.ModuleList, not a Python list; wrap tensors in nn.Parameter), or "
        "call requires_grad_(False) on what is meant to stay fixed.",
        tensor=names[0], tensors=tuple(names), line=e.line)]


def step_without_gradient(trace: Trace) -> list[Diagnostic]:
    """Updates that ran after a reset dropped the gradient of the latest backward pass."""
    uses = [u for u in trace.ledger.uses if u.emptied is not None]
    if not uses:
        return []
    e, reset = trace.events[uses[0].event], trace.events[uses[0].emptied or 0]
    names = list(dict.fromkeys(trace.steps[u.step - 1].name
                               for u in sorted(uses, key=lambda u: u.step) if u.step))
    calls = len({u.event for u in uses})
    what = (f"optimizer step {e.data.get('call')}" if e.kind == "optimizer_step"
            else "the update")
    return [Diagnostic(
        "step_without_gradient",
        f"{what}{where(e.line)} ran on gradients reset{where(reset.line)} after backward pass "
        f"{e.data.get('pass')}"
        + (f" (and {calls - 1} later update{'s' if calls > 2 else ''} the same way)"
           if calls > 1 else "")
        + f": {_list(names)} learned nothing from that pass.",
        "Reset gradients before backward (optimizer.zero_grad() at the start of the "
        "iteration), never between backward() and step().",
        tensor=names[0] if names else None, tensors=tuple(names), line=reset.line)]


def eval_mode(trace: Trace) -> list[Diagnostic]:
    """Dropout, or BatchNorm whose affine parameters train, run in eval mode in a forward pass
    that a backward pass and an update followed."""
    events = trace.events
    updates_at = sorted(e.data.get("pass", 0) for e in events
                        if e.kind == "hand_update" or (e.kind == "optimizer_step"
                                                       and e.data.get("steps")))
    if not updates_at:
        return []
    found: dict[str, tuple[str, int | None]] = {}  # module -> (type, line)
    for i, e in enumerate(events):
        if e.kind != "module_mode" or e.data.get("training") or not e.data.get("grad") \
                or not e.data.get("learns"):
            continue
        module = e.data.get("module", "")
        start = e.data.get("pass", 0)
        nxt = next((f.data.get("pass", 0) for f in events[i + 1:] if f.kind == "module_mode"
                    and f.data.get("module") == module), math.inf)
        # a backward pass after it, and an update after that pass, before the module's next call
        if any(start < count <= nxt for count in updates_at) and module not in found:
            found[module] = (e.data.get("type", ""), e.line)
    if not found:
        return []
    modules = list(found)
    kinds = sorted({t for t, _ in found.values()})
    return [Diagnostic(
        "eval_mode",
        f"{_list(modules)} ({', '.join(kinds)}) ran in eval mode{where(found[modules[0]][1])} "
        "in forward passes that were backpropagated and used to update the model: dropout is "
        "off and batch norm uses its running statistics while it trains.",
        "Call model.train() before the training forward passes (after evaluating with "
        "model.eval()).",
        tensor=modules[0], tensors=tuple(modules), line=found[modules[0]][1])]


def _list(names: list[str]) -> str:
    shown = names[:4] + ([f"{len(names) - 4} more"] if len(names) > 4 else [])
    return ", ".join(shown[:-1]) + " and " + shown[-1] if len(shown) > 1 else "".join(shown)
