"""The explorer's files, shipped as package data: its script, its CSS and the pan/zoom library.

``panzoom.min.js`` is anvaka/panzoom 9.4.4 (MIT, ``panzoom.LICENSE``), unchanged; it is wrapped
so that a page's AMD or CommonJS loader (classic Notebook has RequireJS) cannot capture it, and
it sets ``window.panzoom`` once per page. Nothing is fetched when a view is shown.

Example:
    >>> "panzoom" in library() and script().startswith("(function (root, data)")
    True
"""

from __future__ import annotations

import functools
from importlib import resources

__all__ = ["library", "script", "style"]


@functools.cache
def _read(name: str) -> str:
    return (resources.files("gradtrace.views.explorer") / "static" / name).read_text("utf-8")


def library() -> str:
    """The pan/zoom library, loaded only where no explorer of the page loaded it yet."""
    return ("if (!window.panzoom) { (function (define, module, exports) {\n"
            + _read("panzoom.min.js") + "\n})(); }")


def script() -> str:
    """The explorer: a function expression of the explorer's root element and its data."""
    return _read("explorer.js").strip()


def style() -> str:
    """The explorer's CSS, scoped under ``.gradtrace.gt-explorer``."""
    return _read("explorer.css")
