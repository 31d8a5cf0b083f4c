"""Small readers shared by the rules: formatting, passes, steps."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gradtrace.model.trace import BackwardPass, ForwardStep, TensorSummary, Trace


def fmt(summary: TensorSummary | None) -> str:
    from gradtrace.views.format import format_value

    return format_value(summary)


def where(line: int | None) -> str:
    return f" (line {line})" if line else ""


def describe_pass(p: BackwardPass | None, index: int) -> str:
    text = f"backward pass {index}"
    if p is not None and p.source:
        text += f" ({p.source}"
        text += f", line {p.line})" if p.line else ")"
    elif p is not None and p.line:
        text += f" (line {p.line})"
    return text


def passes(trace: Trace) -> dict[int, BackwardPass]:
    return {p.index: p for p in trace.passes}


def step(trace: Trace, index: int | None) -> ForwardStep | None:
    steps = trace.steps  # read once: each read goes through the Trace's records
    if index is None or not 0 < index <= len(steps):
        return None
    return steps[index - 1]


def inputs_text(trace: Trace, s: ForwardStep) -> str:
    parts = []
    for i in s.inputs:
        inp = step(trace, i)
        if inp is not None:
            parts.append(f"{inp.name} = {fmt(inp.value)}")
    return ", ".join(parts)


def ancestors(trace: Trace, roots: set[int] | list[int]) -> set[int]:
    """Every step the given steps were computed from, themselves included."""
    seen: set[int] = set()
    todo = list(roots)
    steps = trace.steps
    while todo:
        i = todo.pop()
        if i in seen or not 0 < i <= len(steps):
            continue
        seen.add(i)
        todo.extend(steps[i - 1].inputs)
    return seen
