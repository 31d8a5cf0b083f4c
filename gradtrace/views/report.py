"""What the report says, computed once: the text and the HTML reports lay out the same Report.

The summary counts, the warnings, the forward table, each backward pass, the tensors table, the
graph and the line of an error the code stopped at; the tables hold display strings, cut to the
row limit. Widths and wrapping (:mod:`~gradtrace.views.text`) or escaping and markup
(:mod:`~gradtrace.views.html`) are the layouts' business, as :mod:`~gradtrace.views.graph` is
drawn by both :mod:`~gradtrace.views.dot` and :mod:`~gradtrace.views.tree`.

Example:
    >>> import torch
    >>> from gradtrace.model.trace import ForwardStep, TensorSummary, Trace
    >>> x = ForwardStep(step=1, name="x", op="tensor", inputs=(),
    ...                 value=TensorSummary.of(torch.tensor([3.0])))
    >>> report = build_report(Trace(steps=(x,)), sections="forward")
    >>> report.summary
    '1 forward step, 0 backward passes, no warnings'
    >>> report.forward.headers[:4], report.forward.rows[0].cells[:4]
    (('step', 'name', 'op', 'inputs'), ('1', 'x', 'tensor', ''))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from gradtrace.model.updates import updates
from gradtrace.views.format import format_value, grad_fn_label, group_passes, plural
from gradtrace.views.graph import build_graph
from gradtrace.views.rows import backward_rows, forward_rows, tensor_rows
from gradtrace.views.sections import parse_sections

if TYPE_CHECKING:
    from gradtrace.diagnostics import Diagnostic
    from gradtrace.model.trace import BackwardPass, BackwardStep, Trace
    from gradtrace.views.graph import Graph

__all__ = ["Report", "Table", "Row", "PassTable", "build_report", "error_kind", "EMPTY",
           "NO_BACKWARD", "NO_BACKWARD_STEPS", "NUMERIC", "NAMES"]

EMPTY = "gradtrace: nothing traced: the code ran no torch operations."
NO_BACKWARD = "no backward pass ran (call .backward() on a scalar result to see gradients)"
NO_BACKWARD_STEPS = "no backward steps were recorded"
# Columns of numbers: right-aligned in every layout.
NUMERIC = ("step", "line", "loss", "grad norm", "‖Δp‖", "‖Δp‖/‖p‖")
# Columns of tensor and module names: a cut keeps their end, which tells rows apart
# (``…0.weight``). Not ``node``: an autograd node's class name differs at its start.
NAMES = ("name", "tensor", "inputs", "parameter", "module")


class Row(NamedTuple):
    """One row's cells, and whether its tensor is a leaf that requires grad (shown stronger)."""

    cells: tuple[str, ...]
    leaf: bool = False


@dataclass(frozen=True)
class Table:
    """A table as every layout shows it.

    Attributes:
        title: ``"forward"``, ``"tensors"`` or the pass's ``"backward pass 1: c.backward() at
            line 4"``.
        headers: the column names.
        rows: the rows shown: the first ``max_rows`` of them.
        total: how many rows there are, shown or not.
        blank: the headers of the columns empty in every row, shown or not.
    """

    title: str
    headers: tuple[str, ...]
    rows: tuple[Row, ...]
    total: int
    blank: frozenset[str] = frozenset()

    @property
    def more(self) -> int:
        """How many rows were left out."""
        return self.total - len(self.rows)


@dataclass(frozen=True)
class PassTable:
    """One backward pass: its steps, what stopped it (``"stopped by RuntimeError: ..."``), and
    the ``.grad`` resets since the pass before (``"before it, x_1.grad was reset (line 20)"``);
    ``error`` is the error that stopped it as text (``"RuntimeError: ..."``)."""

    table: Table
    stopped: str | None = None
    resets: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Report:
    """Everything a report shows, for the sections asked for (see :func:`build_report`).

    Attributes:
        traced: whether the code ran any torch operation; if not, the report is :data:`EMPTY`
            and the ``stopped`` line.
        summary: ``"5 forward steps, 1 backward pass, no warnings"``: always shown.
        warnings: the diagnostics, most important first.
        forward: the forward steps; None when not asked for or there are none.
        passes: each backward pass.
        no_backward: say :data:`NO_BACKWARD`: the backward section was asked for and none ran.
        updates: one row per optimizer step and parameter; None when none ran.
        tensors: one row per tensor name; None when not asked for or there are none.
        graph: the graph; None when not asked for or there is nothing to draw.
        max_rows: the row limit, which the graph's text tree takes too.
        stopped: ``"stopped by RuntimeError: boom at line 4"``: always shown.
        error: the error the code stopped at, as text (``"RuntimeError: boom"``), and
        error_line: its line in the traced code.
    """

    traced: bool
    summary: str = ""
    warnings: tuple[Diagnostic, ...] = ()
    forward: Table | None = None
    passes: tuple[PassTable, ...] = ()
    no_backward: bool = False
    updates: Table | None = None
    tensors: Table | None = None
    graph: Graph | None = None
    max_rows: int | None = None
    stopped: str | None = None
    error: str | None = None
    error_line: int | None = None


def error_kind(error: str) -> str:
    """The type of an error written as text: ``"RuntimeError: boom"`` → ``"RuntimeError"``."""
    return error.split(":", 1)[0]


def build_report(trace: Trace, *, sections: str | Sequence[str] | None = None,
                 max_rows: int | None = None) -> Report:
    """The report on ``trace`` with the sections asked for, each table cut to ``max_rows``.

    Args:
        trace: the trace to show.
        sections: from :data:`~gradtrace.views.sections.SECTIONS` (a comma-separated string
            works too); None for every one but ``"tensors"``.
        max_rows: the most rows per table; None keeps every row.

    Raises:
        ValueError: an unknown section name.
    """
    shown = parse_sections(sections)
    where = f" at line {trace.error_line}" if trace.error_line is not None else ""
    stopped = f"stopped by {trace.error}{where}" if trace.error else None
    if not (trace.steps or trace.backward_steps or trace.passes):
        return Report(traced=False, stopped=stopped, error=trace.error,
                      error_line=trace.error_line)
    warnings = trace.warnings
    counts = [plural(len(trace.steps), "forward step"),
              plural(len(trace.passes), "backward pass", "backward passes"),
              plural(len(warnings), "warning") if warnings else "no warnings"]
    return Report(
        traced=True, summary=", ".join(counts),
        warnings=tuple(warnings) if "warnings" in shown else (),
        forward=_forward(trace, max_rows) if trace.steps and "forward" in shown else None,
        passes=tuple(_pass(p, steps, max_rows, _resets(trace, p.index))
                     for p, steps in (group_passes(trace) if "backward" in shown else ())),
        no_backward="backward" in shown and not (trace.passes or trace.backward_steps),
        updates=_updates(trace, max_rows) if "updates" in shown else None,
        tensors=_tensors(trace, max_rows) if trace.steps and "tensors" in shown else None,
        graph=build_graph(trace) if trace.steps and "graph" in shown else None,
        max_rows=max_rows, stopped=stopped, error=trace.error, error_line=trace.error_line)


def _table(title: str, headers: Sequence[str], rows: list[Row], max_rows: int | None) -> Table:
    blank = frozenset(h for i, h in enumerate(headers) if not any(r.cells[i] for r in rows))
    shown = rows if max_rows is None else rows[: max(max_rows, 0)]
    return Table(title, tuple(headers), tuple(shown), len(rows), blank)


def _forward(trace: Trace, max_rows: int | None) -> Table:
    with_module = any(s.module for s in trace.steps)
    headers = ["step", "name", "op", "inputs", "shape", "value", "grad_fn"]
    headers += ["module"] * with_module + ["line", "source"]
    rows, last_line = [], None
    for r in forward_rows(trace):
        s = r.step
        source = (s.source or "").strip() if s.line != last_line or s.line is None else ""
        last_line = s.line
        label = grad_fn_label(s)
        cells = [str(s.step), s.name, s.op, r.inputs, r.shape,
                 format_value(s.value, shape=False), label]
        cells += [s.module or ""] * with_module
        cells += ["" if s.line is None else str(s.line), source]
        rows.append(Row(tuple(cells), leaf=label == "leaf"))
    return _table("forward", headers, rows, max_rows)


def _resets(trace: Trace, index: int) -> str | None:
    """The ``.grad`` resets (``zero_grad()``, ``x.grad = None``) between pass ``index - 1`` and
    pass ``index``, as one line."""
    found = [e for e in trace.events
             if e.kind == "grad_reset" and e.data.get("pass") == index - 1]
    if not found:
        return None
    names = list(dict.fromkeys(f"{e.name}.grad" for e in found))
    shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
    lines = sorted({e.line for e in found if e.line is not None})
    at = f" (line {', '.join(map(str, lines))})" if lines else ""
    return f"before it, {shown} {'was' if len(names) == 1 else 'were'} reset{at}"


def _pass(p: BackwardPass, steps: list[BackwardStep], max_rows: int | None,
          resets: str | None = None) -> PassTable:
    call = (p.source or "").strip() or p.call
    title = f"backward pass {p.index}" + (f": {call}" if call else "")
    title += f" at line {p.line}" if p.line is not None else ""
    rows = [Row((str(r.step.step), r.step.node, r.step.tensor, r.grad_in, r.grad_out))
            for r in backward_rows(steps)]
    table = _table(title, ("step", "node", "tensor", "grad in", "grad out"), rows, max_rows)
    return PassTable(table, f"stopped by {p.error}" if p.error else None, resets, p.error)


def _updates(trace: Trace, max_rows: int | None) -> Table | None:
    found = updates(trace)
    if not found:
        return None
    rows = [Row((f"{u.optimizer} {u.call}", u.parameter, _number(u.loss), _number(u.grad_norm),
                 _number(u.update_norm), _number(u.ratio))) for u in found]
    return _table("updates", ("step", "parameter", "loss", "grad norm", "‖Δp‖", "‖Δp‖/‖p‖"),
                  rows, max_rows)


def _number(v: float) -> str:
    return "" if v != v else f"{v:.4g}"  # NaN: unknown


def _tensors(trace: Trace, max_rows: int | None) -> Table:
    rows = [Row((r.step.name, r.shape, r.value, r.grad)) for r in tensor_rows(trace)]
    return _table("tensors", ("name", "shape", "value", "grad"), rows, max_rows)
