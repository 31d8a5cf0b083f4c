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

from gradtrace.views.format import (
    format_grad_in,
    format_grad_out,
    format_inputs,
    format_shape,
    format_value,
    grad_fn_label,
    group_passes,
    plural,
)
from gradtrace.views.sections import parse_sections
from gradtrace.views.tensors import TENSOR_COLUMNS, tensor_rows
from gradtrace.views.text import EMPTY, NO_BACKWARD

if TYPE_CHECKING:
    from gradtrace.model.trace import BackwardPass, BackwardStep, Trace

__all__ = ["to_html"]

_STYLE = """<style>
.gradtrace{color-scheme:light dark;color:inherit;font-size:12px;line-height:1.45;
 font-family:var(--jp-code-font-family,ui-monospace,SFMono-Regular,Menlo,Consolas,monospace)}
.gradtrace p,.gradtrace ul{margin:4px 0}
.gradtrace details{margin:6px 0}
.gradtrace summary{cursor:pointer;font-weight:600}
.gradtrace .gt-scroll{max-height:28em;overflow:auto;margin:2px 0 6px 0}
.gradtrace table.gt{border-collapse:collapse;margin:0;font:inherit;color:inherit;
 background:transparent;table-layout:auto}
.gradtrace table.gt th,.gradtrace table.gt td{padding:1px 10px 1px 0;text-align:left;
 vertical-align:top;white-space:nowrap;color:inherit;background:transparent;border:0;
 border-bottom:1px solid rgba(128,128,128,.25);
 border-bottom:1px solid color-mix(in srgb,currentColor 18%,transparent)}
.gradtrace table.gt th{position:sticky;top:0;font-weight:600;
 background:var(--jp-layout-color0,var(--vscode-editor-background,Canvas))}
.gradtrace table.gt td.gt-num,.gradtrace table.gt th.gt-num{text-align:right}
.gradtrace table.gt tr:hover td{background:rgba(128,128,128,.08)}
.gradtrace .gt-dim{opacity:.65}
.gradtrace .gt-leaf{font-weight:600}
.gradtrace ul.gt-warn{list-style:none;padding:4px 8px;border-left:3px solid #d97706}
.gradtrace .gt-kind{font-weight:600;color:#d97706}
.gradtrace .gt-error{border-left:3px solid #dc2626;padding:2px 8px}
.gradtrace .gt-graph{max-height:48em;overflow:auto;margin:2px 0 6px 0}
.gradtrace pre.gt-tree{font:inherit;color:inherit;background:transparent;margin:2px 0}
</style>"""


def to_html(trace: Trace, *, max_rows: int | None = None,
            sections: Sequence[str] | None = None) -> str:
    """Render a Trace as an HTML fragment: warnings, the forward table, each backward pass, graph.

    The graph is an inline SVG when Graphviz is found, else the text tree in a ``<pre>``.

    Args:
        trace: the trace to show.
        max_rows: the most rows shown per table (longer tables scroll anyway); None shows all.
        sections: the sections to show, from :data:`~gradtrace.views.sections.SECTIONS` (a
            comma-separated string works too); None shows every one but ``"tensors"``. The
            summary line, the notes and an error the code stopped at always show. Without
            ``"graph"`` no Graphviz program runs.

    Returns:
        A ``<div class="gradtrace">`` holding its own ``<style>``; no scripts.

    Raises:
        ValueError: an unknown section name.
    """
    e = html.escape
    shown = parse_sections(sections)
    parts = ['<div class="gradtrace">', _STYLE]
    if not (trace.steps or trace.backward_steps or trace.passes):
        parts.append(f"<p>{e(EMPTY)}</p>")
        return "\n".join(parts + _ending(trace) + ["</div>"])
    warnings = trace.warnings
    counts = [plural(len(trace.steps), "forward step"),
              plural(len(trace.passes), "backward pass", "backward passes"),
              plural(len(warnings), "warning") if warnings else "no warnings"]
    parts.append(f"<p><b>gradtrace</b>: {e(', '.join(counts))}</p>")
    if warnings and "warnings" in shown:
        parts.append('<ul class="gt-warn">')
        for w in warnings:
            fix = f' <span class="gt-dim">{e(w.fix)}</span>' if w.fix else ""
            parts.append(f'<li><span class="gt-kind">{e(w.kind)}</span> {e(w.message)}{fix}</li>')
        parts.append("</ul>")
    if trace.steps and "forward" in shown:
        parts.append(_section(f"forward ({plural(len(trace.steps), 'step')})",
                              _forward(trace, max_rows)))
    if "backward" in shown:
        parts += [_section(_pass_title(p), _backward(p, steps, max_rows))
                  for p, steps in group_passes(trace)]
        if not trace.passes and not trace.backward_steps:
            parts.append(f'<p class="gt-dim">{e(NO_BACKWARD)}</p>')
    if trace.steps and "tensors" in shown:
        rows = [[e(c) for c in row] for row in tensor_rows(trace)]
        parts.append(_section(f"tensors ({len(rows)})", _table(TENSOR_COLUMNS, rows, max_rows)))
    if trace.steps and "graph" in shown:
        from gradtrace.views.pictures import graph_html

        parts.append(_section("graph", graph_html(trace, max_rows=max_rows)))
    return "\n".join(parts + _ending(trace) + ["</div>"])


def _ending(trace: Trace) -> list[str]:
    lines = []
    if trace.error:
        where = f" at line {trace.error_line}" if trace.error_line is not None else ""
        lines.append(f'<p class="gt-error">stopped by {html.escape(trace.error + where)}</p>')
    return lines


def _section(title: str, body: str) -> str:
    return f"<details open><summary>{html.escape(title)}</summary>\n{body}\n</details>"


def _table(headers: Sequence[str], rows: list[list[str]], max_rows: int | None,
           numeric: Sequence[str] = ("step", "line")) -> str:
    """An HTML table; ``rows`` hold already-escaped cell HTML."""
    shown = rows if max_rows is None else rows[: max(max_rows, 0)]
    num = {i for i, h in enumerate(headers) if h in numeric}

    def cls(i: int) -> str:
        return ' class="gt-num"' if i in num else ""

    out = ['<div class="gt-scroll"><table class="gt"><thead><tr>']
    out += [f"<th{cls(i)}>{html.escape(h)}</th>" for i, h in enumerate(headers)]
    out.append("</tr></thead><tbody>")
    for row in shown:
        out.append("<tr>" + "".join(f"<td{cls(i)}>{c}</td>" for i, c in enumerate(row)) + "</tr>")
    if len(rows) > len(shown):
        more = f"… {plural(len(rows) - len(shown), 'more row')}"
        out.append(f'<tr><td class="gt-dim" colspan="{len(headers)}">{more}</td></tr>')
    out.append("</tbody></table></div>")
    return "".join(out)


def _forward(trace: Trace, max_rows: int | None) -> str:
    e = html.escape
    names = {s.step: s.name for s in trace.steps}
    with_module = any(s.module for s in trace.steps)
    headers = ["step", "name", "op", "inputs", "shape", "value", "grad_fn"]
    headers += ["module"] * with_module + ["line", "source"]
    rows, last_line = [], None
    for s in trace.steps:
        source = (s.source or "").strip() if s.line != last_line or s.line is None else ""
        last_line = s.line
        name = f'<span class="gt-leaf">{e(s.name)}</span>' if grad_fn_label(s) == "leaf" \
            else e(s.name)
        row = [str(s.step), name, e(s.op), e(format_inputs(s, names)),
               e(format_shape(s.value.shape)), e(format_value(s.value, shape=False)),
               e(grad_fn_label(s))]
        row += [e(s.module or "")] * with_module
        row += ["" if s.line is None else str(s.line),
                f"<code>{e(source)}</code>" if source else ""]
        rows.append(row)
    return _table(headers, rows, max_rows)


def _pass_title(p: BackwardPass) -> str:
    call = (p.source or "").strip() or p.call
    title = f"backward pass {p.index}" + (f": {call}" if call else "")
    return title + (f" at line {p.line}" if p.line is not None else "")


def _backward(p: BackwardPass, steps: list[BackwardStep], max_rows: int | None) -> str:
    e = html.escape
    rows = [[str(b.step), e(b.node), e(b.tensor), e(format_grad_in(b)), e(format_grad_out(b))]
            for b in steps]
    body = (_table(["step", "node", "tensor", "grad in", "grad out"], rows, max_rows) if rows
            else '<p class="gt-dim">no backward steps were recorded</p>')
    if p.error:
        body += f'\n<p class="gt-error">stopped by {e(p.error)}</p>'
    return body
