"""Errors PyTorch raises far from their cause, explained in the user's names; and the custom
Function check."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from gradtrace.diagnostics.describe import describe_pass, step, where
from gradtrace.diagnostics.diagnostic import Diagnostic

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace

__all__ = ["backward_twice", "inplace", "function_check"]


def backward_twice(trace: Trace) -> list[Diagnostic]:
    found = []
    for p in trace.passes:
        if not p.error or "second time" not in p.error:
            continue
        earlier = [q for q in trace.passes if q.index < p.index and not q.error]
        # the engine runs the nodes in the same order each time: the one that failed is the
        # first node of the earlier pass that this pass did not get past
        done = {(b.node, b.forward_step) for b in trace.backward_steps
                if b.backward_pass == p.index}
        failed = [b for b in trace.backward_steps if earlier and b.kind == "node"
                  and b.backward_pass == earlier[-1].index and (b.node, b.forward_step) not in done]
        node = f" at {failed[0].node} ({failed[0].tensor})" if failed else ""
        freed = (f": {describe_pass(earlier[-1], earlier[-1].index)} already freed the values "
                 "it saved") if earlier else ": an earlier backward already freed its saved values"
        found.append(Diagnostic(
            "backward_twice",
            f"{describe_pass(p, p.index)} went back through the graph a second time{node}{freed}.",
            "Pass retain_graph=True to the earlier backward() if you need to go through the graph "
            "twice, or run the forward pass again before the second backward.",
            tensor=failed[0].tensor if failed else None,
            backward_step=failed[0].step if failed else None, line=p.line))
    return found


def inplace(trace: Trace) -> list[Diagnostic]:
    found = []
    for p in trace.passes:
        if not p.error or "inplace operation" not in p.error:
            continue
        match = re.search(r"output (\d+) of (\w+)", p.error)
        node = match.group(2) if match else ""
        # "output 0 of ExpBackward0" in some versions, "output 0 of Exp" in others
        saved = [s for s in trace.steps if node and s.grad_fn and
                 (s.grad_fn.startswith(node) or node.startswith(s.grad_fn.rstrip("0123456789")))]
        changed = [(s, t) for s in saved for t in trace.steps
                   if t.tensor_id == s.tensor_id and t.step > s.step]
        if changed:
            s, t = changed[0]
            message = (f"{describe_pass(p, p.index)} needed {s.name} as {s.op} made it"
                       f"{where(s.line)}, but {t.op}{where(t.line)} changed it in place "
                       "afterwards.")
            fix = (f"Make a new tensor instead ({s.name} = {s.name}.{t.op.rstrip('_')}(...) rather "
                   f"than {s.name}.{t.op}(...)), or .clone() {s.name} before changing it.")
            found.append(Diagnostic("inplace", message, fix, tensor=s.name, step=t.step,
                                    line=t.line))
        else:
            found.append(Diagnostic(
                "inplace", f"{describe_pass(p, p.index)} failed: a tensor it needed ({node or '?'} "
                "output) was modified in place after it was saved.",
                "Use out-of-place ops (x = x * 2 rather than x *= 2) or .clone() before modifying.",
                line=p.line))
    return found


def function_check(trace: Trace) -> list[Diagnostic]:
    found = []
    for e in trace.events:
        if e.kind != "function_check" or not e.data:
            continue
        s = step(trace, e.step)
        cls = s.op if s is not None else "the custom Function"
        if "error" in e.data:
            message = (f"{cls}.backward raised {e.data['error']} (checked on the values at "
                       f"{e.name}).")
        else:
            d = e.data
            arg = _argument_name(trace, e.step, d["input"])
            message = (f"{cls}.backward disagrees with finite differences for {arg} at element "
                       f"{d['element']}: backward gave {d['analytic']:.4g}, the numeric "
                       f"derivative is {d['numeric']:.4g}{where(e.line)}.")
        found.append(Diagnostic(
            "function_check", message,
            "Check that backward multiplies by grad_output, unpacks ctx.saved_tensors with a "
            "comma (x, = ctx.saved_tensors) and returns one gradient per forward input.",
            tensor=e.name, step=e.step, line=e.line))
    return found


def _argument_name(trace: Trace, index: int | None, position: int) -> str:
    s = step(trace, index)
    if s is not None and position < len(s.inputs):
        inp = step(trace, s.inputs[position])
        if inp is not None:
            return f"input {position} ({inp.name})"
    return f"input {position}"
