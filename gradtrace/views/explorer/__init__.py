"""The interactive graph: pan, zoom, search, and a panel of each tensor's rows and gradients.

``Trace.explore()`` returns an :class:`Explorer`; the notebook report shows its graph section as
one once the graph has more than :data:`EXPLORE_ABOVE` nodes (``to_html(explore_above=...)``,
``%config GradtraceMagics.explore_above``). See NOTE [an explorer that degrades to the picture]
in :mod:`gradtrace.views.explorer.page`.

Example:
    >>> from gradtrace.model.trace import Trace
    >>> print(Explorer(Trace()))
    gradtrace explorer: nothing traced
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

from gradtrace.views.explorer.page import NEEDS_TRUST, explorer_fragment
from gradtrace.views.graph import build_graph
from gradtrace.views.nodes import EXPLORE_ABOVE

__all__ = ["Explorer", "explorer_fragment", "EXPLORE_ABOVE", "NEEDS_TRUST"]

#: The most nodes the explorer draws (zooming keeps big graphs readable); past it modules are
#: collapsed as :func:`~gradtrace.views.graph.build_graph` does.
EXPLORE_MAX_NODES = 1000


class Explorer:
    """The interactive graph of a Trace (see :meth:`gradtrace.Trace.explore`).

    Args:
        trace: the trace to explore.
        options: those of :func:`~gradtrace.views.graph.build_graph` (``collapse``, ``depth``,
            ``hide_constants``, ``max_nodes``: 1000 by default).
    """

    def __init__(self, trace: Any, **options: Any) -> None:
        options.setdefault("max_nodes", EXPLORE_MAX_NODES)
        self.trace = trace
        self.graph = build_graph(trace, **options)

    def __str__(self) -> str:
        if not self.trace.steps:
            return "gradtrace explorer: nothing traced"
        return (f"gradtrace explorer: {len(self.graph.nodes)} nodes; in a notebook or a saved "
                "page (.save('graph.html')) it pans, zooms, searches and opens each node's rows")

    __repr__ = __str__

    def to_html(self, *, standalone: bool = False) -> str:
        """The explorer as an HTML fragment (``standalone``: for a page of its own); without
        Graphviz, the line that says how to get pictures."""
        from gradtrace.views.pictures import PictureError

        try:
            return explorer_fragment(self.trace, self.graph, standalone=standalone)
        except PictureError as exc:
            return f'<div class="gradtrace"><p>{html.escape(str(exc))}</p></div>'

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None,
                          **kwargs: Any) -> dict[str, str]:
        from gradtrace.views.display import mime_bundle

        return mime_bundle(self.__str__, self.to_html, include, exclude)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the explorer as a self-contained HTML page (works offline); returns the path."""
        out = Path(path)
        out.write_text(f"<!doctype html><meta charset=utf-8><title>{html.escape(out.stem)}"
                       f"</title>\n{self.to_html(standalone=True)}\n", encoding="utf-8")
        return out
