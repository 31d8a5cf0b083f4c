"""The plain-text report: warnings first, the forward table, each backward pass, then the graph.

The tensors table (one row per name: value and gradient) shows when ``sections`` asks for it.

Example:
    >>> from gradtrace.model.trace import Trace
    >>> print(to_text(Trace()))
    gradtrace: nothing traced: the code ran no torch operations.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gradtrace.views.format import (
    format_grad_in,
    format_grad_out,
    format_inputs,
    format_shape,
    format_value,
    grad_fn_label,
    group_passes,
    layout_table,
    plural,
)
from gradtrace.views.graph import build_graph
from gradtrace.views.sections import parse_sections
from gradtrace.views.tensors import TENSOR_COLUMNS, tensor_rows
from gradtrace.views.tree import tree_lines

if TYPE_CHECKING:
    from gradtrace.diagnostics import Diagnostic
    from gradtrace.model.trace import BackwardPass, BackwardStep, Trace

__all__ = ["to_text"]

EMPTY = "gradtrace: nothing traced: the code ran no torch operations."
NO_BACKWARD = "no backward pass ran (call .backward() on a scalar result to see gradients)"
_FORWARD = ["step", "name", "op", "inputs", "shape", "value", "grad_fn", "module", "line",
            "source"]
_BACKWARD = ["step", "node", "tensor", "grad in", "grad out"]
# Control characters from user text (a module name can be any string) are shown, not obeyed.
_CONTROLS = {c: f"\\x{c:02x}" for c in [*range(32), *range(127, 160)] if c != ord("\n")}
# The fewest characters of a column worth showing (8 for the others) before columns are dropped.
_USEFUL = {"source": 12, "value": 20, "grad in": 16, "grad out": 24}


def to_text(trace: Trace, *, width: int | None = None, max_rows: int | None = None,
            sections: Sequence[str] | None = None) -> str:
    """Render a Trace as plain text, fitted to ``width`` columns.

    Args:
        trace: the trace to show.
        width: the line width; the terminal's width by default (100 when there is none).
        max_rows: the most rows shown per table; the rest are counted on a ``"… N more rows"``
            line. None shows every row.
        sections: the sections to show, from :data:`~gradtrace.views.sections.SECTIONS` (a
            comma-separated string works too); None shows every one but ``"tensors"``. The
            summary line, the notes and the line of an error the code stopped at always show.

    Returns:
        The report, without a trailing newline.

    Raises:
        ValueError: an unknown section name.
    """
    shown = parse_sections(sections)
    if width is None:
        width = shutil.get_terminal_size((100, 24)).columns
    width = max(width, 40)
    if not (trace.steps or trace.backward_steps or trace.passes):
        return "\n".join(_wrap("", EMPTY, width) + _ending(trace, width)).translate(_CONTROLS)
    warnings = trace.warnings
    counts = [plural(len(trace.steps), "forward step"),
              plural(len(trace.passes), "backward pass", "backward passes"),
              plural(len(warnings), "warning") if warnings else "no warnings"]
    blocks = ["\n".join(_wrap("", "gradtrace: " + ", ".join(counts), width))]
    if warnings and "warnings" in shown:
        blocks.append("\n".join(_warnings(warnings, width)))
    if trace.steps and "forward" in shown:
        blocks.append("\n".join(["forward", *_forward(trace, width, max_rows)]))
    if "backward" in shown:
        blocks += ["\n".join(_backward(p, steps, width, max_rows))
                   for p, steps in group_passes(trace)]
        if not trace.passes and not trace.backward_steps:
            blocks.append("\n".join(_wrap("", NO_BACKWARD, width)))
    if trace.steps and "tensors" in shown:
        blocks.append("\n".join(["tensors", *_tensors(trace, width, max_rows)]))
    tree = "graph" in shown and tree_lines(build_graph(trace), width=width, max_rows=max_rows)
    if tree:
        blocks.append("\n".join(["graph", *tree]))
    ending = _ending(trace, width)
    if ending:
        blocks.append("\n".join(ending))
    return "\n\n".join(blocks).translate(_CONTROLS)


def _wrap(prefix: str, text: str, width: int) -> list[str]:
    return textwrap.wrap(text, max(width, len(prefix) + 20), initial_indent=prefix,
                         subsequent_indent=" " * len(prefix), break_on_hyphens=False)


def _warnings(warnings: Sequence[Diagnostic], width: int) -> list[str]:
    pad = max(len(w.kind) for w in warnings)
    lines = []
    for w in warnings:
        text = w.message + (f" {w.fix}" if w.fix else "")
        lines.extend(_wrap(f"! {w.kind.ljust(pad)}  ", text, width))
    return lines


def _ending(trace: Trace, width: int) -> list[str]:
    lines = []
    if trace.error:
        where = f" at line {trace.error_line}" if trace.error_line is not None else ""
        lines.extend(_wrap("", f"stopped by {trace.error}{where}", width))
    return lines


def _clip(rows: list[list[str]], max_rows: int | None) -> tuple[list[list[str]], int]:
    if max_rows is None or len(rows) <= max_rows:
        return rows, 0
    return rows[: max(max_rows, 0)], len(rows) - max(max_rows, 0)


def _table(headers: list[str], rows: list[list[str]], width: int, max_rows: int | None, *,
           right: Sequence[str], shrink: Sequence[Sequence[str]], keep: Sequence[str],
           drop: Sequence[str] = ()) -> list[str]:
    """Lay out a table no wider than ``width`` where it can.

    Columns empty in every row are left out (unless in ``keep``). If the table is too wide, the
    first column of ``drop`` (the source text) is cut; if it still is, the columns in ``drop`` are
    given up in order while the ``shrink`` groups are cut, one group after the other, no shorter
    than is still useful (``_USEFUL``); as a last resort, down to 4 characters.
    """
    shown = [i for i, h in enumerate(headers) if h in keep or any(r[i] for r in rows)]
    rows, more = _clip([[r[i] for i in shown] for r in rows], max_rows)
    headers = [headers[i] for i in shown]
    attempts: list[tuple[Sequence[str], Sequence[Sequence[str]], bool]] = []
    if drop:
        attempts.append(((), [drop[:1]], True))
    attempts += [(drop[:k], shrink, True) for k in range(1 if drop else 0, len(drop) + 1)]
    attempts.append((drop, shrink, False))
    for gone, cut, useful in attempts:
        cols = [i for i, h in enumerate(headers) if h not in gone]
        names = [headers[i] for i in cols]
        lines = layout_table(names, [[r[i] for i in cols] for r in rows], width=width,
                             right=[i for i, h in enumerate(names) if h in right],
                             shrink=[[names.index(h) for h in g if h in names] for g in cut],
                             min_width=[_USEFUL.get(h, 8) if useful else 4 for h in names])
        if max(map(len, lines)) <= width:
            break
    if more:
        lines.append(f"… {plural(more, 'more row')}")
    return lines


def _forward(trace: Trace, width: int, max_rows: int | None) -> list[str]:
    names = {s.step: s.name for s in trace.steps}
    rows, last_line = [], None
    for s in trace.steps:
        source = (s.source or "").strip() if s.line != last_line or s.line is None else ""
        last_line = s.line
        rows.append([str(s.step), s.name, s.op, format_inputs(s, names),
                     format_shape(s.value.shape), format_value(s.value, shape=False),
                     grad_fn_label(s),
                     s.module or "", "" if s.line is None else str(s.line), source])
    return _table(_FORWARD, rows, width, max_rows, right=("step", "line"),
                  shrink=[("inputs", "module"), ("name", "op", "grad_fn", "value")],
                  keep=("step", "name", "op", "shape", "value"),
                  drop=("source", "line", "module", "grad_fn", "inputs"))


def _backward(p: BackwardPass, steps: list[BackwardStep], width: int,
              max_rows: int | None) -> list[str]:
    call = (p.source or "").strip() or p.call
    head = f"backward pass {p.index}" + (f": {call}" if call else "")
    head += f" at line {p.line}" if p.line is not None else ""
    lines = _wrap("", head, width)
    rows = [[str(b.step), b.node, b.tensor, format_grad_in(b), format_grad_out(b)]
            for b in steps]
    if rows:
        lines += _table(_BACKWARD, rows, width, max_rows, right=("step",),
                        shrink=[("grad out", "grad in"), ("tensor",), ("node",)], keep=_BACKWARD)
    else:
        lines.append("no backward steps were recorded")
    if p.error:
        lines.extend(_wrap("", f"stopped by {p.error}", width))
    return lines


def _tensors(trace: Trace, width: int, max_rows: int | None) -> list[str]:
    rows, more = _clip(tensor_rows(trace), max_rows)
    lines = layout_table(TENSOR_COLUMNS, rows, width=width, shrink=[[2, 3], [0]],
                         min_width=[8, 5, 16, 16])
    return lines + ([f"… {plural(more, 'more row')}"] if more else [])
