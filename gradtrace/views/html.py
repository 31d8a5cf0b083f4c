"""The HTML report for notebooks: one self-contained fragment, no scripts, no external resources.

# NOTE [HTML that works everywhere]
# Notebooks may be untrusted (no JS) and themed light or dark. The fragment therefore carries its
# own <style>, scoped under ``.gradtrace`` so it never restyles the rest of the page, inherits text
# colour from the page, draws borders with a translucent grey (``color-mix`` with ``currentColor``
# where supported), and uses <details> to fold sections without a script. Every piece of user
# text (names, sources, messages) goes through ``html.escape``.

Example:
    >>> from gradtrace.model.trace import Trace
    >>> "nothing traced" in to_html(Trace())
    True
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gradtrace.views import pictures
from gradtrace.views.format import plural
from gradtrace.views.report import EMPTY, NO_BACKWARD, NO_BACKWARD_STEPS, NUMERIC, build_report
from gradtrace.views.style import BASE_STYLE

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace
    from gradtrace.views.nodes import Graph
    from gradtrace.views.report import PassTable, Row, Table

__all__ = ["to_html"]


def to_html(trace: Trace, *, max_rows: int | None = None,
            sections: Sequence[str] | None = None) -> str:
    """Render a Trace as an HTML fragment: warnings, the forward table, each backward pass, graph.

    The graph is an inline SVG when Graphviz is found, else the text tree in a ``<pre>``.

    Args:
        trace: the trace to show.
        max_rows: the most rows shown per table (longer tables scroll anyway); None shows all.
        sections: the sections to show, from :data:`~gradtrace.views.sections.SECTIONS` (a
            comma-separated string works too); None shows every one but ``"tensors"``. The
            summary line and an error the code stopped at always show. Without ``"graph"`` no
            Graphviz program runs.

    Returns:
        A ``<div class="gradtrace">`` holding its own ``<style>``; no scripts.

    Raises:
        ValueError: an unknown section name.
    """
    e = html.escape
    report = build_report(trace, sections=sections, max_rows=max_rows)
    ending = [f'<p class="gt-error">{e(report.stopped)}</p>'] if report.stopped else []
    parts = ['<div class="gradtrace">', BASE_STYLE]
    if not report.traced:
        parts.append(f"<p>{e(EMPTY)}</p>")
        return "\n".join(parts + ending + ["</div>"])
    parts.append(f"<p><b>gradtrace</b>: {e(report.summary)}</p>")
    if report.warnings:
        parts.append('<ul class="gt-warn">')
        for w in report.warnings:
            fix = f' <span class="gt-dim">{e(w.fix)}</span>' if w.fix else ""
            parts.append(f'<li><span class="gt-kind">{e(w.kind)}</span> {e(w.message)}{fix}</li>')
        parts.append("</ul>")
    if report.forward:
        t = report.forward
        parts.append(_section(f"{t.title} ({plural(t.total, 'step')})", _table(t)))
    parts += [_section(p.table.title, _backward(p)) for p in report.passes]
    if report.no_backward:
        parts.append(f'<p class="gt-dim">{e(NO_BACKWARD)}</p>')
    if report.updates:
        t = report.updates
        parts.append(_section(f"{t.title} ({plural(t.total, 'row')})", _table(t)))
    if report.tensors:
        t = report.tensors
        parts.append(_section(f"{t.title} ({t.total})", _table(t)))
    if report.graph:
        parts.append(_section("graph", graph_html(report.graph, max_rows=report.max_rows)))
    return "\n".join(parts + ending + ["</div>"])


def _section(title: str, body: str) -> str:
    return f"<details open><summary>{html.escape(title)}</summary>\n{body}\n</details>"


def _table(table: Table) -> str:
    def cls(i: int) -> str:
        return ' class="gt-num"' if table.headers[i] in NUMERIC else ""

    out = ['<div class="gt-scroll"><table class="gt"><thead><tr>']
    out += [f"<th{cls(i)}>{html.escape(h)}</th>" for i, h in enumerate(table.headers)]
    out.append("</tr></thead><tbody>")
    for row in table.rows:
        cells = enumerate(_cells(table, row))
        out.append("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in cells) + "</tr>")
    if table.more:
        more = f"… {plural(table.more, 'more row')}"
        out.append(f'<tr><td class="gt-dim" colspan="{len(table.headers)}">{more}</td></tr>')
    out.append("</tbody></table></div>")
    return "".join(out)


def _cells(table: Table, row: Row) -> list[str]:
    """The row's cells as HTML: escaped, a leaf's name in bold, the source as code."""
    cells = [html.escape(c) for c in row.cells]
    for i, header in enumerate(table.headers):
        if header == "name" and row.leaf:
            cells[i] = f'<span class="gt-leaf">{cells[i]}</span>'
        elif header == "source" and cells[i]:
            cells[i] = f"<code>{cells[i]}</code>"
    return cells


def _backward(p: PassTable) -> str:
    body = (_table(p.table) if p.table.total
            else f'<p class="gt-dim">{NO_BACKWARD_STEPS}</p>')
    if p.resets:
        body = f'<p class="gt-dim">{html.escape(p.resets)}</p>\n{body}'
    if p.stopped:
        body += f'\n<p class="gt-error">{html.escape(p.stopped)}</p>'
    return body


def graph_html(graph: Graph, *, max_rows: int | None = None) -> str:
    """The graph for the HTML report: inline SVG, or the text tree in a ``<pre>``."""
    from gradtrace.views.dot import draw  # imports graphviz: only when a graph is shown
    from gradtrace.views.tree import tree_lines

    try:
        svg = pictures.render(draw(graph).source, "svg", timeout=pictures.DISPLAY_TIMEOUT)
        return f'<div class="gt-graph">{pictures.inline_svg(svg)}</div>'
    except pictures.PictureError as exc:
        tree = "\n".join(tree_lines(graph, width=120, max_rows=max_rows))
        return (f'<p class="gt-dim">{html.escape(str(exc))}</p>\n'
                f'<pre class="gt-tree">{html.escape(tree)}</pre>')
