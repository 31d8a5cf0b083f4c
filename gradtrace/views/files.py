"""Files of a Trace: the graph as a picture or DOT, the report as text or a standalone page.

Example:
    >>> from gradtrace.model.trace import Trace
    >>> "<title>t</title>" in report_page(Trace(), "t")
    True
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gradtrace.views import pictures
from gradtrace.views.html import to_html
from gradtrace.views.stepper import stepper_html

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace

__all__ = ["save", "report_page", "SUFFIXES"]

#: The suffixes :func:`save` writes.
SUFFIXES = (".svg", ".png", ".dot", ".gv", ".html", ".txt")


def report_page(trace: Trace, title: str = "gradtrace") -> str:
    """A standalone HTML page: the report (:func:`~gradtrace.views.html.to_html`), then the
    stepper."""
    return (f"<!doctype html><meta charset=utf-8><title>{html.escape(title)}</title>\n"
            f"{to_html(trace, standalone=True)}\n{stepper_html(trace)}\n")


def save(trace: Trace, path: str | os.PathLike[str], **options: Any) -> Path:
    """Write ``trace`` to ``path``, in the format its suffix names.

    ``.svg`` and ``.png``: the graph picture (needs Graphviz); ``.dot``/``.gv``: its DOT source;
    ``.html``: the whole report as a standalone page, ending with the step-by-step walk through
    (:mod:`gradtrace.views.stepper`); ``.txt``: the text report. ``options`` are
    those of :func:`~gradtrace.views.dot.to_dot` and apply to the graph formats.

    Raises:
        ValueError: an unknown suffix, or options for a format they do not apply to.
        PictureError: ``.svg``/``.png`` without Graphviz; the message says how to install it.
    """
    out = Path(path)
    suffix = out.suffix.lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"gradtrace: cannot save {out.name!r}: use one of {', '.join(SUFFIXES)}")
    if suffix in (".html", ".txt"):
        if options:
            raise ValueError(f"gradtrace: graph options apply to .svg, .png and .dot, not {suffix}")
        body = str(trace) + "\n" if suffix == ".txt" else report_page(trace)
        out.write_text(body, encoding="utf-8")
        return out
    from gradtrace.views.dot import to_dot  # imports graphviz: only for the graph formats

    source = to_dot(trace, **options).source
    if suffix in (".dot", ".gv"):
        out.write_text(source, encoding="utf-8")
    else:
        out.write_bytes(pictures.render(source, suffix[1:]))
    return out
