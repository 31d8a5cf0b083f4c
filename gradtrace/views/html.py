"""The HTML report for notebooks: one self-contained fragment, no external resources; its only
script is the explorer's, for a big graph, which falls back to the picture.

# NOTE [HTML that works everywhere]
# Notebooks may be untrusted and themed light or dark. JupyterLab (4.6) runs an untrusted output
# through its sanitizer, which we measured in headless Chromium: it drops <style>, <script>,
# <svg> and <template> (keeping their text), the ``hidden`` and ``data-*`` attributes, and turns
# ``id`` into ``data-jupyter-id``; it keeps ``style`` attributes (font-family, white-space,
# max-height, overflow, colours, display:none), ``title``, <details>, and <img> with a ``data:``
# URL. So what matters is inline: monospace tables whose cells never wrap (JupyterLab's ``code``
# is pre-wrap), warning colours, one height-capped scroll box per table (never nested), and the
# graph as an SVG <img> at its own size in a scroll box, drawn bottom to top so the output is
# seen first. Long cells are cut in the middle, the full text in ``title``. The <style> block
# (scoped under ``.gradtrace``) only adds: sticky headers, hover, themed borders. Every piece of
# user text (names, sources, messages) goes through ``html.escape``.

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
from gradtrace.views.cellfit import NUMBERS, clip_words, fit_widths
from gradtrace.views.format import plural
from gradtrace.views.nodes import EXPLORE_ABOVE
from gradtrace.views.report import (
    EMPTY,
    NO_BACKWARD,
    NO_BACKWARD_STEPS,
    NUMERIC,
    build_report,
    error_kind,
)
from gradtrace.views.style import BASE_STYLE, INLINE

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace
    from gradtrace.views.nodes import Graph
    from gradtrace.views.report import PassTable, Row, Table

__all__ = ["to_html", "graph_html", "clip_middle", "CELL_WIDTH"]

#: The fewest characters a cell of each column keeps when its table is too wide for the box and
#: is cut (see :mod:`gradtrace.views.cellfit`); a table that fits is never cut.
CELL_WIDTH = {"source": 56, "value": 40, "inputs": 36, "grad": 40, "message": 60}
_DEFAULT_WIDTH = 30


def to_html(trace: Trace, *, max_rows: int | None = None,
            sections: Sequence[str] | None = None, standalone: bool = False,
            explore_above: int | None = EXPLORE_ABOVE) -> str:
    """Render a Trace as an HTML fragment: warnings, the forward table, each backward pass, graph.

    The graph is an SVG picture when Graphviz is found, else the text tree in a ``<pre>``.

    Args:
        trace: the trace to show.
        max_rows: the most rows shown per table (longer tables scroll anyway); None shows all.
        sections: the sections to show, from :data:`~gradtrace.views.sections.SECTIONS` (a
            comma-separated string works too); None shows every one but ``"tensors"``. The
            summary line and an error the code stopped at always show. Without ``"graph"`` no
            Graphviz program runs.
        standalone: for a page of its own (``Trace.save("report.html")``), whose ``<style>`` no
            sanitizer strips: no inline styles, and the graph as an ``<svg>`` element, which makes
            a long trace's page several times smaller.
        explore_above: a graph of more nodes than this shows as the explorer (pan, zoom,
            search, a panel per node: :mod:`gradtrace.views.explorer`), which falls back to the
            picture where scripts do not run; None never shows it.

    Returns:
        A ``<div class="gradtrace">`` holding its own ``<style>``; a script only in the
        explorer.

    Raises:
        ValueError: an unknown section name.
    """
    e = html.escape
    inline = not standalone
    report = build_report(trace, sections=sections, max_rows=max_rows)
    ending = ([f'<p class="gt-error" style="{INLINE["error"]}">{e(report.stopped)}</p>']
              if report.stopped else [])
    parts = [f'<div class="gradtrace" style="{INLINE["root"]}">', BASE_STYLE]
    if not report.traced:
        parts.append(f"<p>{e(EMPTY)}</p>")
        return "\n".join(parts + ending + ["</div>"])
    parts.append(f"<p><b>gradtrace</b>: {e(report.summary)}</p>")
    if report.warnings:
        parts.append(f'<ul class="gt-warn" style="{INLINE["warnings"]}">')
        for w in report.warnings:
            fix = f' <span class="gt-dim">{e(w.fix)}</span>' if w.fix else ""
            kind = f'<span class="gt-kind" style="{INLINE["kind"]}">{e(w.kind)}</span>'
            parts.append(f"<li>{kind} {e(w.message)}{fix}</li>")
        parts.append("</ul>")
    if report.forward:
        t = report.forward
        parts.append(_section(f"{t.title} ({plural(t.total, 'step')})", _table(t, inline)))
    parts += [_section(p.table.title, _backward(p, inline, report.error))
              for p in report.passes]
    if report.no_backward:
        parts.append(f'<p class="gt-dim">{e(NO_BACKWARD)}</p>')
    if report.updates:
        t = report.updates
        parts.append(_section(f"{t.title} ({plural(t.total, 'row')})", _table(t, inline)))
    if report.tensors:
        t = report.tensors
        parts.append(_section(f"{t.title} ({t.total})", _table(t, inline)))
    if report.graph:
        parts.append(_section("graph", _graph(trace, report.graph, report.max_rows, inline,
                                              explore_above)))
    return "\n".join(parts + ending + ["</div>"])


def _graph(trace: Trace, graph: Graph, max_rows: int | None, inline: bool,
           explore_above: int | None) -> str:
    """The graph section: the explorer for a big graph, else (or without Graphviz) the
    picture."""
    if explore_above is not None and graph.size > explore_above:
        from gradtrace.views.explorer.page import explorer_fragment

        try:
            return explorer_fragment(trace, graph, standalone=not inline)
        except pictures.PictureError:
            pass  # graph_html says how to get pictures and shows the text tree
    return graph_html(graph, max_rows=max_rows, inline=inline)


def _section(title: str, body: str) -> str:
    return f"<details open><summary>{html.escape(title)}</summary>\n{body}\n</details>"


def clip_middle(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters by an ``"…"`` in the middle, keeping both ends.

    Example:
        >>> clip_middle("add(add(a, b), getitem(x, 4))", 12)
        'add(ad…, 4))'
    """
    if len(text) <= width:
        return text
    tail = (width - 1) // 2
    return f"{text[:width - 1 - tail]}…{text[len(text) - tail:]}"


def _table(table: Table, inline: bool = True) -> str:
    cell, num = (INLINE["cell"], INLINE["num"]) if inline else ("", "")

    def cls(i: int, head: str = "") -> str:
        numeric = table.headers[i] in NUMERIC
        style = (num if numeric else cell) + head if inline else ""
        return (' class="gt-num"' if numeric else "") + (f' style="{style}"' if style else "")

    floors = {h: CELL_WIDTH.get(h, _DEFAULT_WIDTH) for h in table.headers}
    widths = fit_widths([r.cells for r in table.rows], floors, table.headers)
    out = [f'<div class="gt-scroll"{_style("scroll", inline)}><table class="gt"'
           f'{_style("table", inline)}><thead><tr>']
    out += [f"<th{cls(i, ';font-weight:600')}>{html.escape(h)}</th>"
            for i, h in enumerate(table.headers)]
    out.append("</tr></thead><tbody>")
    for row in table.rows:
        cells = enumerate(_cells(table, row, inline, widths))
        out.append("<tr>" + "".join(f"<td{cls(i)}{title}>{c}</td>" for i, (c, title) in cells)
                   + "</tr>")
    if table.more:
        more = f"… {plural(table.more, 'more row')}"
        out.append(f'<tr><td class="gt-dim"{_style("cell", inline)} colspan="{len(table.headers)}">'
                   f"{more}</td></tr>")
    out.append("</tbody></table></div>")
    return "".join(out)


def _style(name: str, inline: bool) -> str:
    """The inline ``style`` attribute called ``name`` in :data:`INLINE`, or nothing."""
    return f' style="{INLINE[name]}"' if inline else ""


def _cells(table: Table, row: Row, inline: bool, widths: dict[str, int]
           ) -> list[tuple[str, str]]:
    """The row's cells as HTML, each with its ``title`` attribute: escaped, cut in the middle
    (the whole text in ``title``), a leaf's name in bold, the source as code."""
    cells = []
    for header, text in zip(table.headers, row.cells):
        width = widths[header]
        cut = clip_words(text, width) if header in NUMBERS else clip_middle(text, width)
        shown = html.escape(cut)
        if header == "name" and row.leaf:
            bold = ' style="font-weight:600"' if inline else ""
            shown = f'<span class="gt-leaf"{bold}>{shown}</span>'
        elif header == "source" and text:
            shown = f'<code{_style("code", inline)}>{shown}</code>'
        cells.append((shown, f' title="{html.escape(text)}"' if cut != text else ""))
    return cells


def _backward(p: PassTable, inline: bool = True, error: str | None = None) -> str:
    body = (_table(p.table, inline) if p.table.total
            else f'<p class="gt-dim">{NO_BACKWARD_STEPS}</p>')
    if p.resets:
        body = f'<p class="gt-dim">{html.escape(p.resets)}</p>\n{body}'
    if p.error and p.error == error:  # its message is on the report's last line
        stopped = f"stopped here by {error_kind(p.error)}"
        body += f'\n<p class="gt-error">{html.escape(stopped)}</p>'
    elif p.stopped:
        body += f'\n<p class="gt-error">{html.escape(p.stopped)}</p>'
    return body


def graph_html(graph: Graph, *, max_rows: int | None = None, inline: bool = True) -> str:
    """The graph for the HTML report: an SVG ``<img>`` at its own size in a scroll box, drawn
    bottom to top (the output first), or the text tree in a ``<pre>``; with ``inline=False``
    (a page of its own) an ``<svg>`` element at its own size instead of the ``<img>``."""
    from gradtrace.views.dot import draw  # imports graphviz: only when a graph is shown
    from gradtrace.views.tree import tree_lines

    try:
        svg = pictures.render(draw(graph, rankdir="BT").source, "svg",
                              timeout=pictures.DISPLAY_TIMEOUT)
        picture = pictures.svg_img(svg) if inline else pictures.svg_element(svg)
        return f'<div class="gt-graph" style="{INLINE["graph"]}">{picture}</div>'
    except pictures.PictureError as exc:
        tree = "\n".join(tree_lines(graph, width=120, max_rows=max_rows))
        return (f'<p class="gt-dim">{html.escape(str(exc))}</p>\n'
                f'<div style="{INLINE["graph"]}"><pre class="gt-tree">{html.escape(tree)}</pre>'
                "</div>")
