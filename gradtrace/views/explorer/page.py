"""The explorer as one HTML fragment: the static picture, a line for untrusted notebooks, the
controls (hidden until the script runs) and one inline script.

# NOTE [an explorer that degrades to the picture]
# Where scripts do not run (an untrusted JupyterLab notebook, whose sanitizer drops <script>,
# <style> and <svg>: see NOTE [HTML that works everywhere] in ``gradtrace.views.html``) the
# fragment is the report's graph as it always was, an SVG <img> in a scroll box, plus one line on
# how to get the explorer; the controls stay ``display:none`` in inline styles. Where the script
# runs (trusted JupyterLab, VS Code, Colab, a saved page) it hides both, puts the same SVG inline
# and adds pan and zoom (the vendored panzoom), search, the node panel, module folding, the pass
# selector and edge tooltips. The picture is laid out once, by Graphviz, in Python: the page only
# moves it, so a 200-node graph is interactive as soon as its SVG is parsed.

Example:
    >>> from gradtrace.model.trace import Trace
    >>> from gradtrace.views.nodes import Graph
    >>> "nothing to explore" in explorer_fragment(Trace(), Graph())
    True
"""

from __future__ import annotations

import html
import json
from typing import TYPE_CHECKING

from gradtrace.views import pictures
from gradtrace.views.explorer.assets import library, script, style
from gradtrace.views.explorer.payload import explorer_data
from gradtrace.views.style import BASE_STYLE, INLINE

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace
    from gradtrace.views.nodes import Graph

__all__ = ["explorer_fragment", "NEEDS_TRUST"]

#: Shown where the script does not run; the script hides it.
NEEDS_TRUST = ("Trust the notebook (File > Trust Notebook) or run the cell again to explore "
               "this graph: zoom, search, click a node for its rows.")

_CONTROLS = (
    '<div class="gt-x-bar" style="display:none">'
    '<input class="gt-x-search" type="search" aria-label="search tensors" '
    'placeholder="search tensors" autocomplete="off">'
    '<span class="gt-x-count" aria-live="polite"></span>'
    '<select class="gt-x-pass" aria-label="backward pass"><option value="0">all passes</option>'
    "</select>"
    '<button class="gt-x-fit" type="button">fit</button>'
    '<button class="gt-x-in" type="button" aria-label="zoom in">+</button>'
    '<button class="gt-x-out" type="button" aria-label="zoom out">−</button>'
    '<span class="gt-dim">wheel or pinch: zoom · drag: pan · click a node: its rows · '
    "click a module's name: fold it</span></div>"
    '<ol class="gt-x-matches" aria-label="matches"></ol>'
)


def explorer_fragment(trace: Trace, graph: Graph, *, standalone: bool = False) -> str:
    """The explorer of ``graph`` (built from ``trace``) as an HTML fragment.

    Args:
        trace: the trace the graph was built from: the panel's rows and gradients.
        graph: the graph to draw.
        standalone: for a page of its own: the picture as an ``<svg>`` element, not an ``<img>``.

    Returns:
        A ``<div class="gradtrace gt-explorer">``.

    Raises:
        PictureError: no Graphviz program, or it failed; the message says what to do.
    """
    if not graph.nodes:
        return f'<div class="gradtrace" style="{INLINE["root"]}"><p>nothing to explore</p></div>'
    from gradtrace.views.dot import draw  # imports graphviz: only when a graph is shown

    svg = pictures.render(draw(graph, rankdir="BT").source, "svg",
                          timeout=pictures.DISPLAY_TIMEOUT)
    picture = pictures.svg_element(svg) if standalone else pictures.svg_img(svg)
    # The user's names are data, in an attribute: no script body carries user text, and the
    # script is the same for every explorer (it starts each one not started yet).
    data = html.escape(json.dumps(explorer_data(trace, graph), separators=(",", ":")))
    code = (f"{library()}\n(function (start) {{\n"
            "document.querySelectorAll('.gt-explorer[data-gt-x]').forEach(function (root) {\n"
            "  var data = root.getAttribute('data-gt-x');\n"
            "  root.removeAttribute('data-gt-x');\n"
            "  start(root, JSON.parse(data));\n"
            f"}});\n}})({script()});")
    return "\n".join([
        f'<div class="gradtrace gt-explorer" data-gt-x="{data}" '
        f'style="{INLINE["root"]}">',
        BASE_STYLE, f"<style>{style()}</style>", _CONTROLS,
        '<div class="gt-x-main" style="display:none"><div class="gt-x-stage"></div>'
        '<aside class="gt-x-panel" aria-label="tensor details" style="display:none"></aside>'
        "</div>",
        f'<p class="gt-nojs gt-dim" style="{INLINE["dim"]}">{html.escape(NEEDS_TRUST)}</p>',
        f'<div class="gt-x-static gt-graph" style="{INLINE["graph"]}">{picture}</div>',
        f"<script>{_script_text(code)}</script>",
        "</div>"])


def _script_text(code: str) -> str:
    """``code`` safe inside ``<script>``: no ``</`` (user names are data in it) can end it."""
    return code.replace("</", "<\\/").replace("<!--", "<\\!--")
