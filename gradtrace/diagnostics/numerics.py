"""NaN and Inf: the first op whose forward value or backward gradient became non-finite."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gradtrace.diagnostics.describe import describe_pass, fmt, inputs_text, passes, step, where
from gradtrace.diagnostics.diagnostic import Diagnostic

if TYPE_CHECKING:
    from gradtrace.model.trace import TensorSummary, Trace

__all__ = ["nonfinite"]

# Why an op gives NaN/Inf in forward, and why its derivative does in backward.
_FORWARD = {
    "log": "log is NaN for negative inputs and -inf at 0", "log2": "log is NaN below 0, -inf at 0",
    "log10": "log is NaN below 0, -inf at 0", "log1p": "log1p is NaN below -1, -inf at -1",
    "sqrt": "sqrt is NaN for negative inputs", "rsqrt": "rsqrt is inf at 0 and NaN below it",
    "div": "x / 0 is inf and 0 / 0 is NaN", "pow": "a negative number to a fractional power is NaN",
    "exp": "exp overflows to inf (above about 88 in float32)",
    "acos": "acos is NaN outside [-1, 1]", "asin": "asin is NaN outside [-1, 1]",
}
_BACKWARD = {
    "sqrt": "the derivative 1/(2·sqrt(x)) is infinite at x = 0",
    "log": "the derivative 1/x is infinite at x = 0", "div": "the derivative of a/b has b² below",
    "pow": "the derivative of x**p with p < 1 is infinite at x = 0",
    "norm": "the derivative of a norm is 0/0 at the zero vector",
    "acos": "the derivative of acos is infinite at ±1",
    "asin": "the derivative of asin is infinite at ±1",
}
# Ops that write a value they were given: an Inf there is a mask (attention's -inf), not a slip
_FILLS = frozenset({"masked_fill", "masked_fill_", "fill_", "full", "full_like", "new_full",
                    "index_fill", "index_fill_", "where", "masked_scatter"})
# Ops that hand back memory as it was left (torch.empty): NaN or Inf there is not the user's,
# until the code reads it before writing it
_UNINITIALISED = frozenset({"empty", "empty_like", "new_empty", "empty_strided",
                            "empty_permuted"})
_FILL_FIRST = ("Write every element before reading it: torch.zeros, or torch.empty followed by "
               "an initialiser such as uniform_ or normal_.")
_FIX = ("Keep the input away from the bad point: clamp it (x.clamp(min=1e-8)) or add a small "
        "epsilon where it is used.")


def _bad(s: TensorSummary | None) -> str | None:
    if s is None:
        return None
    return "nan" if s.nan else "inf" if s.inf else None


def nonfinite(trace: Trace) -> list[Diagnostic]:
    found = []
    for s in trace.steps:  # the first forward value to go bad while its inputs were fine
        kind = _bad(s.value)
        if not kind or (kind == "inf" and s.op in _FILLS) or s.op in _UNINITIALISED:
            continue
        sources = [i for i in (step(trace, n) for n in s.inputs) if i is not None]
        if all(_bad(i.value) is None or i.op in _UNINITIALISED for i in sources):
            what = "NaN" if kind == "nan" else "Inf"
            fix = _FIX
            if s.inputs:
                unset = [i.name for i in sources if i.op in _UNINITIALISED and _bad(i.value)]
                why = (f"{unset[0]} holds whatever torch.empty's memory held: it was read "
                       "before anything was written to it") if unset \
                    else _FORWARD.get(s.op.rstrip("_"), "")
                fix = _FILL_FIRST if unset else _FIX
                message = (f"{s.name} = {s.op}({inputs_text(trace, s)}) has {what} values "
                           f"{where(s.line).strip()}" + (f": {why}." if why else "."))
            else:
                message = f"{s.name} already holds {what} values when first used{where(s.line)}."
            found.append(Diagnostic(kind, message.replace("  ", " "), fix, tensor=s.name,
                                    step=s.step, line=s.line))
            break
    by_index = passes(trace)
    for b in trace.backward_steps:  # the first node that sent a bad gradient from a good one
        sent = [e for e in b.grad_out if _bad(e.grad)]
        if not sent or _bad(b.grad_in):
            continue
        kind = _bad(sent[0].grad) or "nan"
        owner = step(trace, b.forward_step)
        op = owner.op if owner is not None else ""
        why = _BACKWARD.get(op.rstrip("_"), "")
        inputs = f" Its inputs: {inputs_text(trace, owner)}." if owner is not None else ""
        found.append(Diagnostic(
            kind,
            (f"the gradient became {'NaN' if kind == 'nan' else 'Inf'} in "
             f"{describe_pass(by_index.get(b.backward_pass), b.backward_pass)} at {b.node} "
             f"({b.tensor}{where(owner.line if owner else None).replace(' (', ', ').rstrip(')')}): "
             f"it received {fmt(b.grad_in)} and sent {fmt(sent[0].grad)} to "
             f"{sent[0].name or 'its input'}"
             + (f"; {why}." if why else ".") + inputs),
            _FIX, tensor=b.tensor, step=b.forward_step, backward_step=b.step,
            line=owner.line if owner else None))
        break
    return found
