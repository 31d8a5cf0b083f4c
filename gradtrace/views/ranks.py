"""The ranks of one ``torch.distributed`` run side by side: :func:`compare_ranks`.

Example:
    >>> from gradtrace.model.trace import Trace
    >>> c = compare_ranks([Trace(rank=0, world_size=2), Trace(rank=1, world_size=2)])
    >>> list(c.table.columns)
    ['parameter', 'rank', 'local_grad_norm', 'grad_norm', 'value_norm']
    >>> print(c)
    gradtrace: 2 ranks (world size 2), 0 parameters, no warnings.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gradtrace.diagnostics.diagnostic import Warnings
from gradtrace.diagnostics.ranks import diagnose_ranks
from gradtrace.model.ranks import Parameter, parameters
from gradtrace.model.saved import load
from gradtrace.model.trace import Trace

if TYPE_CHECKING:
    import pandas

__all__ = ["RankComparison", "compare_ranks"]

_COLUMNS = ["parameter", "rank", "local_grad_norm", "grad_norm", "value_norm"]
_MARK = {"rank_desync": "#f8d7da", "unused_parameter": "#fff3cd"}


def compare_ranks(traces: Iterable[Trace | str | os.PathLike[str]] | str | os.PathLike[str]
                  ) -> RankComparison:
    """Compare the Traces of every rank: Traces, ``.gtrace`` paths, or a folder of them (as
    ``python -m gradtrace --save DIR`` writes: ``DIR/rank0.gtrace``, ...).

    Returns:
        A :class:`RankComparison`: ``.table``, ``.warnings``, shown as text and HTML.
    """
    if isinstance(traces, (str, os.PathLike)):
        folder = Path(traces)
        found = sorted(folder.glob("rank*.gtrace"), key=lambda p: int(p.stem[4:] or 0))
        if not found:
            raise FileNotFoundError(f"gradtrace: no rank*.gtrace files in {str(folder)!r}")
        traces = found
    loaded = [t if isinstance(t, Trace) else load(t) for t in traces]
    return RankComparison(sorted(loaded, key=lambda t: t.rank))


class RankComparison:
    """Every parameter on every rank (``table``) and what differs between ranks (``warnings``)."""

    def __init__(self, traces: list[Trace]) -> None:
        self.traces = traces

    @cached_property
    def _parameters(self) -> list[Parameter]:
        rows = [p for t in self.traces for p in parameters(t)]
        order = {name: i for i, name in enumerate(dict.fromkeys(p.name for p in rows))}
        return sorted(rows, key=lambda p: (order[p.name], p.rank))

    @cached_property
    def table(self) -> pandas.DataFrame:
        """One row per parameter and rank: the norms of its local gradient, of ``.grad`` after
        synchronisation, and of its value after the step (NaN: none)."""
        import pandas

        nan = float("nan")
        return pandas.DataFrame(
            [(p.name, p.rank, nan if p.local is None else p.local.norm,
              nan if p.grad is None else p.grad.norm, p.value.norm) for p in self._parameters],
            columns=_COLUMNS)

    @cached_property
    def warnings(self) -> Warnings:
        """``rank_desync``, ``unused_parameter`` and ``no_sync`` diagnostics (each with
        ``.kind``, ``.message`` and ``.fix``)."""
        return Warnings(diagnose_ranks(self.traces))

    def _flagged(self) -> dict[str, str]:
        return {name: d.kind for d in self.warnings if d.kind in _MARK for name in d.tensors}

    def _head(self) -> str:
        sizes = sorted({t.world_size for t in self.traces})
        n = len({p.name for p in self._parameters})
        said = f"{len(self.warnings)} warning{'s' if len(self.warnings) != 1 else ''}" \
            if self.warnings else "no warnings"
        return (f"gradtrace: {len(self.traces)} rank{'s' if len(self.traces) != 1 else ''} "
                f"(world size {', '.join(map(str, sizes))}), {n} parameter"
                f"{'s' if n != 1 else ''}, {said}.")

    def __str__(self) -> str:
        lines = [self._head()]
        for d in self.warnings:
            lines.append(f"  {d.kind}: {d.message}")
            if d.fix:
                lines.append(f"    fix: {d.fix}")
        if self._parameters:
            rows = [["parameter", "rank", "local grad", "grad (synced)", "value", ""]]
            flagged = self._flagged()
            for p in self._parameters:
                rows.append([p.name, str(p.rank), _norm(p.local), _norm(p.grad), _norm(p.value),
                             flagged.get(p.name, "")])
            widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
            lines.append("")
            lines.append("norms per parameter and rank:")
            lines += ["  " + "  ".join(c.rjust(w) if 0 < i < 5 else c.ljust(w)
                                       for i, (c, w) in enumerate(zip(r, widths))).rstrip()
                      for r in rows]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<RankComparison: {len(self.traces)} ranks, {len(self.warnings)} warnings>"

    def to_html(self) -> str:
        """A self-contained HTML fragment: the warnings, then the table (inline styles only)."""
        esc = html.escape
        out = [f"<div class='gradtrace-ranks'><p><b>{esc(self._head())}</b></p>"]
        colour = {"rank_desync": "#b02a37", "unused_parameter": "#997404", "no_sync": "#0a58ca"}
        for d in self.warnings:
            out.append(f"<p style='margin:4px 0'><b style='color:{colour.get(d.kind, '#333')}'>"
                       f"{esc(d.kind)}</b>: {esc(d.message)}"
                       + (f"<br><i>fix:</i> {esc(d.fix)}" if d.fix else "") + "</p>")
        cell = "style='padding:2px 10px;border-bottom:1px solid #ddd;text-align:{}'"
        heads = ["parameter", "rank", "local grad norm", "grad norm (synced)", "value norm"]
        out.append("<table style='border-collapse:collapse;font-family:monospace'><tr>" + "".join(
            f"<th {cell.format('left' if i == 0 else 'right')}>{h}</th>"
            for i, h in enumerate(heads)) + "</tr>")
        flagged = self._flagged()
        for p in self._parameters:
            bg = _MARK.get(flagged.get(p.name, ""), "")
            style = f" style='background:{bg}'" if bg else ""
            vals = [p.name, str(p.rank), _norm(p.local), _norm(p.grad), _norm(p.value)]
            out.append(f"<tr{style}>" + "".join(
                f"<td {cell.format('left' if i == 0 else 'right')}>{esc(v)}</td>"
                for i, v in enumerate(vals)) + "</tr>")
        out.append("</table></div>")
        return "".join(out)

    def _repr_html_(self) -> str:
        return self.to_html()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None,
                          **kwargs: Any) -> dict[str, str]:
        return {"text/plain": str(self), "text/html": self.to_html()}


def _norm(s: Any) -> str:
    return "—" if s is None else f"{s.norm:.4g}"
