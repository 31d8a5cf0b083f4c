"""A Trace shown with chosen sections: what ``%%gradtrace`` displays, as text and HTML.

The renderers take the choice themselves (``sections=``); a view holds it, with the row limit and
the text width, and hands it to :func:`~gradtrace.views.text.to_text` and
:func:`~gradtrace.views.html.to_html` when IPython asks for a MIME bundle. A Trace shows as a view
with the default choice: :func:`mime_bundle` is the one rule for what a bundle holds.

Example:
    >>> from gradtrace.model.trace import Trace
    >>> print(TraceView(Trace(), sections=parse_sections("forward")).to_text())
    gradtrace: nothing traced: the code ran no torch operations.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from gradtrace.views.html import to_html
from gradtrace.views.nodes import EXPLORE_ABOVE
from gradtrace.views.sections import DEFAULT_SECTIONS, SECTIONS, parse_sections
from gradtrace.views.text import to_text

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace

__all__ = ["SECTIONS", "DEFAULT_SECTIONS", "DEFAULT_MAX_ROWS", "parse_sections", "TraceView",
           "mime_bundle"]

#: Rows per table a Trace shows by itself (``%%gradtrace --max-rows`` changes it for a cell).
DEFAULT_MAX_ROWS = 200


class TraceView:
    """A Trace with display options; in IPython it shows as text, or HTML where wanted.

    Args:
        trace: the trace to show.
        sections: what to show, from :data:`SECTIONS`; the one-line summary (and an error the
            code stopped at) is always shown.
        max_rows: the most rows per table; None shows every row.
        width: the text width; None for the terminal's.
        brief_error: the text names the error the code stopped at by its type and line only,
            for a caller that shows its traceback next.
        explore_above: a graph of more nodes than this shows as the explorer; None: never.
    """

    def __init__(self, trace: Trace, *, sections: Iterable[str] = DEFAULT_SECTIONS,
                 max_rows: int | None = None, width: int | None = None,
                 brief_error: bool = False, explore_above: int | None = EXPLORE_ABOVE) -> None:
        self.trace = trace
        self.sections = parse_sections(sections)
        self.max_rows = max_rows
        self.width = width
        self.brief_error = brief_error
        self.explore_above = explore_above

    def to_text(self) -> str:
        """The plain-text report (as :func:`~gradtrace.views.text.to_text` makes) with the
        sections."""
        return to_text(self.trace, width=self.width, max_rows=self.max_rows,
                       sections=self.sections, brief_error=self.brief_error)

    def to_html(self) -> str:
        """The HTML fragment (as :func:`~gradtrace.views.html.to_html` makes) with the sections."""
        return to_html(self.trace, max_rows=self.max_rows, sections=self.sections,
                       explore_above=self.explore_above)

    def __repr__(self) -> str:
        return self.to_text()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None,
                          **kwargs: Any) -> dict[str, str]:
        return mime_bundle(self.to_text, self.to_html, include, exclude)


def mime_bundle(text: Callable[[], str], html: Callable[[], str], include: Any = None,
                exclude: Any = None, short: Callable[[], str] | None = None) -> dict[str, str]:
    """What IPython shows: ``text/plain`` always, ``text/html`` unless not wanted.

    HTML is made only when wanted: not when ``exclude`` names it, nor when ``include`` leaves it
    out. IPython passes ``include=None``; then the shell's front end decides (a terminal shows
    text only). Where the HTML is shown, ``text/plain`` is only its fallback: ``short()`` when
    given, so a notebook does not build the whole report twice.

    Args:
        text: makes the text.
        html: makes the HTML.
        include: the MIME types wanted; None for those the front end shows.
        exclude: MIME types not wanted.
        short: makes a one-line text to go with the HTML.
    """
    if include is None:
        include = _active_types()
    wants_html = (include is None or "text/html" in include) and not (
        exclude and "text/html" in exclude)
    bundle = {"text/plain": short() if wants_html and short is not None else text()}
    if wants_html:
        bundle["text/html"] = html()
    return bundle


def _active_types() -> Any:
    """The MIME types the running IPython front end shows (a terminal: text only), or None."""
    import sys

    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    formatter = getattr(shell, "display_formatter", None)
    return getattr(formatter, "active_types", None)
