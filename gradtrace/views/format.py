"""Short strings for tensors, gradients and table cells, shared by every renderer.

Example:
    >>> import torch
    >>> from gradtrace.model.trace import TensorSummary
    >>> format_value(TensorSummary.of(torch.tensor([3.0])))
    '3.0000'
    >>> format_value(TensorSummary.of(torch.tensor([[1, 2], [3, 4]])))
    '[[1, 2], [3, 4]]'
    >>> format_shape((64, 256))
    '(64, 256)'
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from gradtrace.model.trace import BackwardPass, BackwardStep, ForwardStep, TensorSummary, Trace

__all__ = ["format_value", "format_shape", "format_number", "format_inputs", "format_grad_in",
           "format_grad_out", "grad_fn_label", "group_passes", "plural", "truncate", "layout_table"]

ELLIPSIS = "…"


def format_shape(shape: Sequence[int]) -> str:
    """A shape as Python writes a tuple: ``"()"``, ``"(1,)"``, ``"(64, 256)"``."""
    return str(tuple(int(d) for d in shape))


def format_number(v: Any, kind: str = "float") -> str:
    """One element: ``kind`` is ``"float"``, ``"int"``, ``"bool"`` or ``"complex"``.

    Floats get 4 decimals like torch, or scientific notation when tiny or huge.

    Example:
        >>> format_number(-0.98999), format_number(1.23456e-05), format_number(3, "int")
        ('-0.9900', '1.2346e-05', '3')
    """
    if kind == "bool":
        return str(bool(v))
    if kind == "int":
        return str(int(v))
    if kind == "complex":
        im = format_number(abs(v.imag))
        return f"{format_number(v.real)}{'-' if v.imag < 0 else '+'}{im}j"
    v = float(v)
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if v != 0 and (abs(v) >= 1e5 or abs(v) < 1e-4):
        return f"{v:.4e}"
    return f"{v:.4f}"


def _kind(dtype: str) -> str:
    if dtype == "bool":
        return "bool"
    if dtype.startswith(("int", "uint")):
        return "int"
    return "complex" if dtype.startswith("complex") else "float"


def _nested(items: Any, kind: str) -> str:
    if isinstance(items, list):
        return "[" + ", ".join(_nested(i, kind) for i in items) + "]"
    return format_number(items, kind)


def _stat(v: float) -> str:
    return f"{v:.4g}"


def format_value(summary: TensorSummary | None, *, max_items: int = 6, shape: bool = True
                 ) -> str:
    """A compact preview of a tensor summary: the values when few, else shape and statistics.

    Args:
        summary: the tensor's summary; None (no tensor, e.g. a gradient that never came) gives
            ``"None"``, as PyTorch shows a missing ``.grad``.
        max_items: largest element count shown in full.
        shape: start a statistics preview with the shape; tables with a shape column pass False.

    Returns:
        ``"-0.9900"`` for one element, ``"[1.0000, 0.0100]"`` for a few, else
        ``"(64, 256) mean=0.0123 min=-1.2 max=3.4"`` with ``(2 nan)`` when there are any.

    Example:
        >>> import torch
        >>> from gradtrace.model.trace import TensorSummary
        >>> format_value(TensorSummary.of(torch.arange(10.0)))
        '(10,) mean=4.5 min=0 max=9'
        >>> format_value(TensorSummary.of(torch.arange(10.0)), shape=False)
        'mean=4.5 min=0 max=9'
        >>> format_value(None)
        'None'
    """
    if summary is None:
        return "None"
    kind = _kind(summary.dtype)
    if summary.values is not None and summary.numel <= max_items:
        items = summary.values.tolist()
        if summary.numel == 1:
            while isinstance(items, list):
                items = items[0]
        return _nested(items, kind)
    mean, lo, hi = summary.mean, summary.min, summary.max
    parts = [format_shape(summary.shape)] if shape else []
    if mean is None or lo is None or hi is None:  # no statistics: empty, opaque or all non-finite
        if not (summary.nan or summary.inf):
            parts.append(summary.dtype)
    elif summary.numel == 1 and kind != "complex":
        return format_number(lo, kind)
    elif kind == "bool":
        parts.append(f"{round(mean * summary.numel)} True")
    else:  # complex statistics are of the magnitude
        parts += ["|x|"] * (kind == "complex")
        parts.append(f"mean={_stat(mean)} min={_stat(lo)} max={_stat(hi)}")
    bad = ", ".join(f"{n} {what}" for n, what in ((summary.nan, "nan"), (summary.inf, "inf")) if n)
    if bad:
        parts.append(f"({bad})" if parts else bad)
    return " ".join(parts)


def format_inputs(step: ForwardStep, names: dict[int, str]) -> str:
    """The names of the tensors a step read, comma-joined (``"#7"`` for an unknown step)."""
    return ", ".join(names.get(i, f"#{i}") for i in step.inputs)


def grad_fn_label(step: ForwardStep) -> str:
    """``grad_fn`` as a user reads it: the node name, ``"leaf"`` for a leaf that needs grad."""
    if step.grad_fn:
        return step.grad_fn
    return "leaf" if step.requires_grad and step.is_leaf else ""


def format_grad_in(b: BackwardStep) -> str:
    """The gradient a backward node received, with its other outputs' gradients when it has any;
    for an all-reduce, the local gradients it took."""
    if b.kind == "all_reduce":
        return "local: " + ", ".join(f"{e.name} {format_value(e.grad)}" for e in b.local)
    text = format_value(b.grad_in)
    if not b.other_outputs:
        return text
    others = ", ".join(f"{e.name}: {format_value(e.grad)}" for e in b.other_outputs)
    return f"{b.tensor}: {text}, {others}"


def format_grad_out(b: BackwardStep) -> str:
    """What a backward step sent on: edges, the ``.grad`` update, or the captured result."""
    if b.kind == "accumulate":
        after = b.grad_after
        if after is None and b.grad_before is None:
            after = b.grad_in  # .grad was None, so the leaf now holds exactly what arrived
        after_text = "?" if after is None else format_value(after)
        return f"{b.tensor}.grad: {format_value(b.grad_before)} -> {after_text}"
    if b.kind == "capture":
        return "returned by autograd.grad"
    if b.kind == "all_reduce":
        return "synchronised: " + ", ".join(f"{e.name}.grad <- {format_value(e.grad)}"
                                            for e in b.grad_out)
    # an edge with no name led nowhere: that input does not require grad
    return ", ".join(f"{e.name} <- {format_value(e.grad)}" for e in b.grad_out if e.name)


def group_passes(trace: Trace) -> list[tuple[BackwardPass, list[BackwardStep]]]:
    """Each pass with its steps, in pass order; steps of an unrecorded pass get a bare pass."""
    from gradtrace.model.records import BackwardPass

    indices = sorted({p.index for p in trace.passes} | {b.backward_pass
                                                         for b in trace.backward_steps})
    by_index = {p.index: p for p in trace.passes}
    out: list[tuple[BackwardPass, list[BackwardStep]]] = []
    for i in indices:
        p = by_index.get(i) or BackwardPass(index=i, call="")
        out.append((p, [b for b in trace.backward_steps if b.backward_pass == i]))
    return out


def plural(n: int, word: str, words: str | None = None) -> str:
    """``plural(1, "pass", "passes")`` → ``"1 pass"``; ``plural(2, "step")`` → ``"2 steps"``."""
    return f"{n} {word if n == 1 else (words or word + 's')}"


def truncate(text: str, width: int, keep: Literal["start", "end", "both"] = "start") -> str:
    """``text`` on one line, cut to ``width`` characters with an ``"…"`` where it was cut.

    ``keep`` says which part stays: the ``"start"`` (for code), the ``"end"`` (for a dotted name,
    whose last parts tell rows apart) or ``"both"`` ends, the end the longer.

    Example:
        >>> [truncate("model.module.0.weight", 12, k) for k in ("start", "end", "both")]
        ['model.modul…', '…le.0.weight', 'mod…0.weight']
    """
    text = " ".join(text.split("\n")).replace("\t", " ")
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    if keep == "end":
        return ELLIPSIS + text[len(text) - width + 1:]
    head = (width - 1) // 3 if keep == "both" else width - 1
    return text[:head] + ELLIPSIS + text[len(text) - (width - 1 - head):]


def layout_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    width: int,
    right: Sequence[int] = (),
    shrink: Sequence[Sequence[int]] = (),
    min_width: int | Sequence[int] = 4,
    gap: int = 2,
    names: Sequence[int] = (),
) -> list[str]:
    """Lay out a text table no wider than ``width`` (when it can), one string per line.

    ``shrink`` lists groups of columns that may give up characters: the first group shrinks
    (widest column first, down to ``min_width``: one for all, or one per column) before the next
    is touched. Cells cut short end in ``"…"``, except in the columns of ``names``, which keep
    their end (``"…0.weight"``), or both ends where keeping the end alone would make two different
    cells of the column look the same (``"mod…0.weight"``). Columns in ``right`` are right-aligned.
    Trailing spaces are removed.

    Example:
        >>> layout_table(["n", "text"], [["1", "abcdefgh"]], width=8, right=[0], shrink=[[1]])
        ['n  text', '1  abcd…']
        >>> layout_table(["name"], [["model.0.weight"], ["model.2.weight"]], width=9,
        ...              shrink=[[0]], names=[0])
        ['name', '…0.weight', '…2.weight']
    """
    cells = [[truncate(c, 10_000) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    mins = [min_width] * len(widths) if isinstance(min_width, int) else list(min_width)
    excess = sum(widths) + gap * (len(widths) - 1) - width
    for group in shrink:  # cut a group's widest columns down to the next width, and so on
        while excess > 0:
            candidates = [i for i in group if widths[i] > mins[i]]
            if not candidates:
                break
            top = max(widths[i] for i in candidates)
            tied = [i for i in candidates if widths[i] == top]
            below = max([widths[i] for i in candidates if widths[i] < top]
                        + [mins[i] for i in tied])
            cut = min(top - below, -(-excess // len(tied)))
            for i in tied:
                d = min(cut, excess, widths[i] - mins[i])
                widths[i] -= d
                excess -= d

    shown = [[truncate(c, widths[i]) for i, c in enumerate(row)] for row in cells]
    for i in names:
        column = _distinct_ends([row[i] for row in cells], widths[i])
        for row, text in zip(shown, column, strict=True):
            row[i] = text

    def line(row: Sequence[str]) -> str:
        parts = [text.rjust(widths[i]) if i in right else text.ljust(widths[i])
                 for i, text in enumerate(row)]
        return (" " * gap).join(parts).rstrip()

    return [line([truncate(h, w) for h, w in zip(headers, widths, strict=True)])] + [
        line(r) for r in shown]


def _distinct_ends(column: Sequence[str], width: int) -> list[str]:
    """Each cell cut to ``width`` keeping its end; cut keeping both ends instead where the end
    alone is shared with a different cell of the column."""
    ends = [truncate(c, width, "end") for c in column]
    sources: dict[str, set[str]] = {}
    for text, end in zip(column, ends, strict=True):
        sources.setdefault(end, set()).add(text)
    return [truncate(text, width, "both") if len(sources[end]) > 1 else end
            for text, end in zip(column, ends, strict=True)]
