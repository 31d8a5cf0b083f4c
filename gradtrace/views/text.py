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

from gradtrace.views.format import layout_table, plural
from gradtrace.views.report import (
    EMPTY,
    NAMES,
    NO_BACKWARD,
    NO_BACKWARD_STEPS,
    NUMERIC,
    build_report,
    error_kind,
)
from gradtrace.views.tree import tree_lines

if TYPE_CHECKING:
    from gradtrace.diagnostics import Diagnostic
    from gradtrace.model.trace import Trace
    from gradtrace.views.report import PassTable, Report, Table

__all__ = ["to_text"]

# Control characters from user text (a module name can be any string) are shown, not obeyed.
_CONTROLS = {c: f"\\x{c:02x}" for c in [*range(32), *range(127, 160)] if c != ord("\n")}
# The fewest characters of a column worth showing (8 for the others) before columns are dropped.
_USEFUL = {"source": 12, "value": 20, "grad in": 16, "grad out": 24}


def to_text(trace: Trace, *, width: int | None = None, max_rows: int | None = None,
            sections: Sequence[str] | None = None, brief_error: bool = False) -> str:
    """Render a Trace as plain text, fitted to ``width`` columns.

    Args:
        trace: the trace to show.
        width: the line width; the terminal's width by default (100 when there is none).
        max_rows: the most rows shown per table; the rest are counted on a ``"… N more rows"``
            line. None shows every row.
        sections: the sections to show, from :data:`~gradtrace.views.sections.SECTIONS` (a
            comma-separated string works too); None shows every one but ``"tensors"``. The
            summary line and the line of an error the code stopped at always show.
        brief_error: name the error the code stopped at by its type and line only, for a caller
            that prints its traceback (which has the message) right after the report. Either
            way the error's message is written at most once.

    Returns:
        The report, without a trailing newline.

    Raises:
        ValueError: an unknown section name.
    """
    report = build_report(trace, sections=sections, max_rows=max_rows)
    if width is None:
        width = shutil.get_terminal_size((100, 24)).columns
    width = max(width, 40)
    ending = _wrap("", _stopped(report, brief_error), width) if report.error else []
    if not report.traced:
        return "\n".join(_wrap("", EMPTY, width) + ending).translate(_CONTROLS)
    blocks = ["\n".join(_wrap("", "gradtrace: " + report.summary, width))]
    if report.warnings:
        blocks.append("\n".join(_warnings(report.warnings, width)))
    if report.forward:
        blocks.append("\n".join(["forward", *_forward(report.forward, width)]))
    blocks += ["\n".join(_backward(p, width, report.error)) for p in report.passes]
    if report.no_backward:
        blocks.append("\n".join(_wrap("", NO_BACKWARD, width)))
    if report.updates:
        blocks.append("\n".join(["updates", *_table(report.updates, width,
                                                      keep=report.updates.headers,
                                                      shrink=[("parameter",)])]))
    if report.tensors:
        blocks.append("\n".join(["tensors", *_tensors(report.tensors, width)]))
    tree = report.graph and tree_lines(report.graph, width=width, max_rows=report.max_rows)
    if tree:
        blocks.append("\n".join(["graph", *tree]))
    if ending:
        blocks.append("\n".join(ending))
    return "\n\n".join(blocks).translate(_CONTROLS)


def _stopped(report: Report, brief: bool) -> str:
    """The line of the error the code stopped at: its message, or only its type and line."""
    assert report.error is not None
    where = f" at line {report.error_line}" if report.error_line is not None else ""
    if brief:
        return f"stopped{where} by {error_kind(report.error)} (traceback below)"
    return f"stopped{where} by {report.error}"


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


def _table(table: Table, width: int, *, shrink: Sequence[Sequence[str]],
           keep: Sequence[str], drop: Sequence[str] = ()) -> list[str]:
    """Lay out a table no wider than ``width`` where it can.

    Columns empty in every row are left out (unless in ``keep``). If the table is too wide, the
    first column of ``drop`` (the source text) is cut; if it still is, the columns in ``drop`` are
    given up in order while the ``shrink`` groups are cut, one group after the other, no shorter
    than is still useful (``_USEFUL``); as a last resort, down to 4 characters.
    """
    shown = [i for i, h in enumerate(table.headers) if h in keep or h not in table.blank]
    rows = [[r.cells[i] for i in shown] for r in table.rows]
    headers = [table.headers[i] for i in shown]
    attempts: list[tuple[Sequence[str], Sequence[Sequence[str]], bool]] = []
    if drop:
        attempts.append(((), [drop[:1]], True))
    attempts += [(drop[:k], shrink, True) for k in range(1 if drop else 0, len(drop) + 1)]
    attempts.append((drop, shrink, False))
    for gone, cut, useful in attempts:
        cols = [i for i, h in enumerate(headers) if h not in gone]
        names = [headers[i] for i in cols]
        lines = layout_table(names, [[r[i] for i in cols] for r in rows], width=width,
                             right=[i for i, h in enumerate(names) if h in NUMERIC],
                             shrink=[[names.index(h) for h in g if h in names] for g in cut],
                             min_width=[_USEFUL.get(h, 8) if useful else 4 for h in names],
                             names=[i for i, h in enumerate(names) if h in NAMES])
        if max(map(len, lines)) <= width:
            break
    if table.more:
        lines.append(f"… {plural(table.more, 'more row')}")
    return lines


def _forward(table: Table, width: int) -> list[str]:
    return _table(table, width, shrink=[("inputs", "module"), ("name", "op", "grad_fn", "value")],
                  keep=("step", "name", "op", "shape", "value"),
                  drop=("source", "line", "module", "grad_fn", "inputs"))


def _backward(p: PassTable, width: int, error: str | None) -> list[str]:
    lines = _wrap("", p.table.title, width)
    if p.resets:
        lines += _wrap("", p.resets, width)
    if p.table.total:
        lines += _table(p.table, width, keep=p.table.headers,
                        shrink=[("grad out", "grad in"), ("tensor",), ("node",)])
    else:
        lines.append(NO_BACKWARD_STEPS)
    if p.error and p.error == error:  # its message is on the report's last line
        lines.append(f"stopped here by {error_kind(p.error)}")
    elif p.stopped:
        lines.extend(_wrap("", p.stopped, width))
    return lines


def _tensors(table: Table, width: int) -> list[str]:
    lines = layout_table(table.headers, [r.cells for r in table.rows], width=width,
                         shrink=[[2, 3], [0]], min_width=[8, 5, 16, 16], names=[0])
    return lines + ([f"… {plural(table.more, 'more row')}"] if table.more else [])
