"""A Trace shown with chosen sections: what ``%%gradtrace`` displays, as text and HTML.

# NOTE [sections until the renderers take them]
# ``to_text`` and ``to_html`` render every section. When a renderer accepts ``sections=``, the
# choice is passed through. Until then this module drops the sections not asked for from their
# output: text blocks are separated by blank lines and start with a known title ("forward",
# "backward pass N", "graph", "! kind" for warnings); HTML sections are ``<details>`` elements
# whose ``<summary>`` names them, and the warnings are one ``<ul class="gt-warn">``. The tensors
# table (one row per name: value and gradient) is added here.

Example:
    >>> from gradtrace.model import Trace
    >>> print(TraceView(Trace(), sections=parse_sections("forward")).to_text())
    gradtrace: nothing traced: the code ran no torch operations.
"""

from __future__ import annotations

import html
import inspect
import re
import shutil
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from gradtrace.render.format import layout_table, plural
from gradtrace.render.html import to_html
from gradtrace.render.text import NO_BACKWARD, to_text

if TYPE_CHECKING:
    from gradtrace.model import Trace

__all__ = ["SECTIONS", "DEFAULT_SECTIONS", "parse_sections", "TraceView"]

SECTIONS = ("warnings", "forward", "backward", "tensors", "graph")
DEFAULT_SECTIONS = ("warnings", "forward", "backward", "graph")
_TENSOR_COLUMNS = ["name", "shape", "value", "grad"]
_HTML_PART = re.compile(
    r'<details open><summary>(?P<title>[^<]*)</summary>.*?</details>\n?'
    r'|(?P<warn><ul class="gt-warn">.*?</ul>\n?)'
    r'|(?P<none><p class="gt-dim">' + re.escape(html.escape(NO_BACKWARD)) + r'</p>\n?)', re.S)


def parse_sections(text: str | Iterable[str]) -> tuple[str, ...]:
    """The sections named in ``text`` ("forward,backward", "all", "none"), in display order.

    Raises:
        ValueError: a name that is not one of :data:`SECTIONS`; the message lists them.

    Example:
        >>> parse_sections("backward, forward")
        ('forward', 'backward')
    """
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text)]
    names = [n for n in names if n]
    if names == ["all"]:
        return SECTIONS
    if names == ["none"]:
        return ()
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        raise ValueError(f"unknown section(s) {', '.join(map(repr, unknown))}: choose from "
                         f"{', '.join(SECTIONS)} (comma-separated), 'all' or 'none'")
    return tuple(s for s in SECTIONS if s in names)


def _text_kind(block: str) -> str:
    first = block.split("\n", 1)[0]
    if first.startswith("! "):
        return "warnings"
    if first.startswith("backward pass ") or NO_BACKWARD.startswith(first):
        return "backward"
    return first if first in ("forward", "graph") else "other"


def _html_kind(m: re.Match[str]) -> str:
    if m.group("warn"):
        return "warnings"
    if m.group("none"):
        return "backward"
    word = m.group("title").split(" ", 1)[0]
    return word if word in ("forward", "backward", "graph") else "other"


class TraceView:
    """A Trace with display options; in IPython it shows as text, or HTML where wanted.

    Args:
        trace: the trace to show.
        sections: what to show, from :data:`SECTIONS`; the one-line summary (and an error the
            code stopped at) is always shown.
        max_rows: the most rows per table; None shows every row.
        width: the text width; None for the terminal's.
    """

    def __init__(self, trace: Trace, *, sections: Iterable[str] = DEFAULT_SECTIONS,
                 max_rows: int | None = None, width: int | None = None) -> None:
        self.trace = trace
        self.sections = parse_sections(sections)
        self.max_rows = max_rows
        self.width = width

    def to_text(self) -> str:
        """The plain-text report with the chosen sections."""
        t = self.trace
        done = _with_sections(to_text, self, width=self.width)
        if done is not None:
            return done
        text = to_text(t, width=self.width, max_rows=self.max_rows)
        if not t.steps:
            return text
        blocks = text.split("\n\n")
        kinds = ["head"] + [_text_kind(b) for b in blocks[1:]]
        if "tensors" in self.sections:  # after the last table, before the graph and the notes
            at = 1 + max(i for i, k in enumerate(kinds) if k in ("head", *SECTIONS[:3]))
            blocks.insert(at, "\n".join(["tensors", *self._tensor_lines()]))
            kinds.insert(at, "tensors")
        shown = [b for b, k in zip(blocks, kinds, strict=True) if _shown(k, self.sections)]
        return "\n\n".join(shown)

    def to_html(self) -> str:
        """The HTML fragment (as :func:`~gradtrace.render.html.to_html` makes) with the sections."""
        t = self.trace
        done = _with_sections(to_html, self)
        if done is not None:
            return done
        page = to_html(t, max_rows=self.max_rows)
        if not t.steps:
            return page
        page = _HTML_PART.sub(lambda m: m.group(0) if _shown(_html_kind(m), self.sections) else "",
                              page)
        if "tensors" in self.sections:  # after the last table, before the graph and the notes
            parts = list(_HTML_PART.finditer(page))
            graph = [m.start() for m in parts if _html_kind(m) == "graph"]
            tables = [m.end() for m in parts if _html_kind(m) in SECTIONS[:3]]
            at = graph[0] if graph else tables[-1] if tables else page.rfind("</div>")
            page = page[:at] + self._tensor_html() + page[at:]
        return page

    def _tensor_rows(self) -> tuple[list[list[str]], str]:
        """The rows shown of the tensors table, and a "… N more rows" note when cut."""
        frame = self.trace.tensors
        rows = [[str(v) for v in r] for r in frame[_TENSOR_COLUMNS].itertuples(index=False)]
        cut = rows if self.max_rows is None else rows[: self.max_rows]
        return cut, (f"… {plural(len(rows) - len(cut), 'more row')}" if len(cut) < len(rows)
                     else "")

    def _tensor_lines(self) -> list[str]:
        width = self.width or shutil.get_terminal_size((100, 24)).columns
        rows, more = self._tensor_rows()
        return layout_table(_TENSOR_COLUMNS, rows, width=max(width, 40), shrink=[[2, 3], [0]],
                            min_width=[8, 5, 16, 16]) + ([more] if more else [])

    def _tensor_html(self) -> str:
        rows, more = self._tensor_rows()
        head = "".join(f"<th>{c}</th>" for c in _TENSOR_COLUMNS)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>"
                       for r in rows)
        if more:
            body += f'<tr><td class="gt-dim" colspan="{len(_TENSOR_COLUMNS)}">{more}</td></tr>'
        return (f"<details open><summary>tensors ({len(self.trace.names)})</summary>\n"
                f'<div class="gt-scroll"><table class="gt"><thead><tr>{head}</tr></thead>'
                f"<tbody>{body}</tbody></table></div>\n</details>\n")

    def __repr__(self) -> str:
        return self.to_text()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None,
                          **kwargs: Any) -> dict[str, str]:
        bundle = {"text/plain": self.to_text()}
        if (include is None or "text/html" in include) and not (exclude and
                                                                "text/html" in exclude):
            bundle["text/html"] = self.to_html()
        return bundle


def _shown(kind: str, sections: tuple[str, ...]) -> bool:
    return kind in sections or kind not in SECTIONS


def _with_sections(render: Callable[..., str], view: TraceView, **options: Any) -> str | None:
    """``render``'s own output with the sections, if it takes ``sections=``; else None."""
    if "sections" not in inspect.signature(render).parameters:
        return None
    return render(view.trace, max_rows=view.max_rows, sections=view.sections, **options)
