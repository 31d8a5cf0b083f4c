"""The stepper: Previous/Next through the forward steps, then the backward steps.

At each step the graph node is highlighted, the step's table row too, with its value and, in
backward, the chain rule: the gradient the node received times each local derivative.

# NOTE [a stepper that needs no server and no JavaScript to be read]
# The widget is one HTML fragment with inline CSS, the graph as an SVG <img> and a short inline
# script, so it works in a saved report and an exported notebook, offline. Without JavaScript
# (an untrusted notebook, whose sanitizer also drops ``hidden``, <template> and <svg>: see
# NOTE [HTML that works everywhere] in ``gradtrace.views.html``) the controls and each step's
# card stay ``display:none`` in inline styles, a note says the walk needs a trusted notebook, and
# the table lists every step with its chain rule. The script hides the note, shows the controls,
# swaps the <img> for the same SVG inline, finds graph nodes by their SVG ``<title>`` (the DOT
# node name, see ``gradtrace.teaching.walk``), marks the current ones with the class ``gt-on``,
# writes the 1-based position to the widget's ``data-gt-current``, and honours ``#step=N``.

Example:
    >>> from gradtrace.model.trace import Trace
    >>> "nothing traced" in stepper_html(Trace())
    True
"""

from __future__ import annotations

import html
import secrets
from typing import TYPE_CHECKING, Any

from gradtrace.teaching.walk import StepView, walk
from gradtrace.views.derivation import MATH_STYLE, math_html
from gradtrace.views.stepper_script import SCRIPT, STYLE
from gradtrace.views.style import BASE_STYLE, INLINE

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace

__all__ = ["Stepper", "stepper_html", "stepper_text", "MAX_STOPS", "NEEDS_TRUST"]

#: Stops the HTML stepper lists; past this many it keeps the first and last halves and says how
#: many it left out (a 1,000-iteration loop has 4,004 stops: 3.4 MB of table). The text has all.
MAX_STOPS = 1000

_HEADERS = ["#", "phase", "step", "node", "tensor", "value / gradient", "chain rule"]
_CELL = INLINE["cell"]
#: Shown where the script does not run; the script hides it.
NEEDS_TRUST = ("The step-by-step walk (Previous/Next) needs a trusted notebook: File > Trust "
               "Notebook, or run the cell. The table lists every step.")


def _row(k: int, total: int, v: StepView) -> str:
    e = html.escape
    phase = "forward" if v.phase == "forward" else f"backward {v.backward_pass}"
    # the name the tables and the graph give it; a temporary's symbol (v3), which the formulas
    # use, follows as its alias
    tensor = e(v.name) + (f' <span class="gt-dim">= {math_html(v.tensor)}</span>'
                          if v.name != v.tensor else "")
    lines = "<br>".join(math_html(part, frac=False) for line in v.lines
                        for part in line.split(";  "))
    card = "".join('<div class="gt-math gt-use">' + "<br>".join(
        math_html(part) for part in line.split(";  ")) + "</div>" for line in v.lines)
    card = f"<p>{tensor}: {math_html(v.value)}</p>{card}"  # the card, when JavaScript runs
    cells = [str(k), phase, str(v.step), e(v.node), tensor, math_html(v.value, frac=False),
             f'{lines}<div class="gt-more" style="{INLINE["hide"]}">{card}</div>']
    title = e(f"{k} / {total} · {v.title}")
    attrs = (f' data-gt-k="{k}" data-gt-nodes="{e(" ".join(v.nodes))}"'
             f' data-gt-edges="{e(" ".join(v.edges))}" data-gt-title="{title}"')
    # text-align only: the step's rows are long (a 1,000-iteration loop has 4,004)
    tds = "".join(f'<td style="text-align:left">{c}</td>' for c in cells)
    return f"<tr{attrs}>{tds}</tr>"


def _counts(views: list[StepView]) -> str:
    f = sum(v.phase == "forward" for v in views)
    return f"{f} forward steps, then {len(views) - f} backward steps"


def _rows(views: list[StepView], max_stops: int) -> str:
    """The table rows: every stop, or the first and last ``max_stops // 2`` and a gap row."""
    total = len(views)
    head = tail = max(1, max_stops // 2)
    if total <= max_stops or total <= head + tail:
        return "".join(_row(k, total, v) for k, v in enumerate(views, 1))
    gap = (f'<tr class="gt-gap"><td colspan="{len(_HEADERS)}">… {total - head - tail} steps '
           f"left out ({head + 1} to {total - tail} of {total}); str(trace.stepper()) lists "
           "them all</td></tr>")
    return ("".join(_row(k, total, views[k - 1]) for k in range(1, head + 1)) + gap
            + "".join(_row(k, total, views[k - 1]) for k in range(total - tail + 1, total + 1)))


def stepper_html(trace: Trace, max_stops: int = MAX_STOPS) -> str:
    """The stepper as one self-contained HTML fragment (inline CSS, an SVG picture, a script).

    Past ``max_stops`` stops the table keeps the first and the last ``max_stops // 2``, with a
    row that says how many were left out.
    """
    from gradtrace.views.report import EMPTY

    uid = f"gt-stepper-{secrets.token_hex(4)}"
    head = (f'<div class="gradtrace gt-stepper" id="{uid}" tabindex="0" '
            f'style="{INLINE["root"]}">')
    if not trace.steps and not trace.backward_steps:
        return f"{head}{BASE_STYLE}<p>{html.escape(EMPTY)}</p></div>"
    from gradtrace.views.graph import build_graph

    graph = build_graph(trace)
    views = walk(trace, graph)
    rows = _rows(views, max_stops)
    shown = rows.count("<tr data-gt-k=")
    table = (f'<div class="gt-scroll gt-steps" style="{INLINE["scroll"]}"><table class="gt" '
             f'style="{INLINE["table"]}"><thead><tr>'
             + "".join(f'<th style="{_CELL};font-weight:600">{h}</th>' for h in _HEADERS)
             + f"</tr></thead><tbody>{rows}</tbody></table></div>")
    hide = INLINE["hide"]
    controls = (f'<div class="gt-controls" style="{hide}"><button type="button" class="gt-prev">'
                '◀ Previous</button><button type="button" class="gt-next">Next ▶</button>'
                f'<input type="range" class="gt-range" min="1" max="{shown}" value="1" '
                'aria-label="step"><span class="gt-pos"></span></div>')
    note = f'<p class="gt-nojs" style="{INLINE["warnings"]}">{NEEDS_TRUST}</p>'
    return "\n".join([
        head, BASE_STYLE, MATH_STYLE, STYLE,
        f"<details open><summary>step by step: {_counts(views)}</summary>",
        '<p class="gt-dim">The current step is highlighted in the graph and the table; backward '
        "steps show the chain rule: gradient received × local derivative.</p>", note,
        controls, f'<div class="gt-stage">{_graph(graph)}<div class="gt-card" style="{hide}">'
        "</div></div>",
        table, "</details>",
        SCRIPT.replace("UID", uid), "</div>"])


def _graph(graph: Any) -> str:
    from gradtrace.views.dot import draw
    from gradtrace.views.pictures import DISPLAY_TIMEOUT, PictureError, render, svg_img

    box = f'<div class="gt-graph" style="{INLINE["graph"]}">'
    try:
        svg = render(draw(graph, rankdir="BT").source, "svg", timeout=DISPLAY_TIMEOUT)
    except PictureError as exc:
        return f'{box}<p class="gt-dim">{html.escape(str(exc))}</p></div>'
    return f"{box}{svg_img(svg)}</div>"


def stepper_text(trace: Trace) -> str:
    """The same walk as plain text: one block per step."""
    from gradtrace.views.report import EMPTY

    views = walk(trace)
    if not views:
        return EMPTY
    lines = [f"step by step: {_counts(views)}"]
    width = len(f"{len(views)}/{len(views)}")
    for k, v in enumerate(views, 1):
        lines.append(f"{f'{k}/{len(views)}':>{width}}  {v.title}")
        pad = " " * (width + 2)
        if v.phase == "backward":
            lines.append(f"{pad}received {v.value}")
        lines += [f"{pad}{part}" for line in v.lines for part in line.split(";  ")]
    return "\n".join(lines)


class Stepper:
    """A trace to walk through: HTML with Previous/Next in a notebook, text elsewhere."""

    def __init__(self, trace: Trace) -> None:
        self.trace = trace

    def __str__(self) -> str:
        return stepper_text(self.trace)

    def __repr__(self) -> str:
        return f"<Stepper: {len(self.trace.steps) + len(self.trace.backward_steps)} steps>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))

    def _repr_html_(self) -> str:
        return stepper_html(self.trace)
