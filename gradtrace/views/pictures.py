"""Pictures of the graph: find a Graphviz program, turn DOT into SVG or PNG, else fall back to text.

The program is the one ``$GRADTRACE_DOT`` names if set, else the system ``dot``, else
``graphviz-pure`` (a self-contained port of Graphviz on PyPI, a dependency of gradtrace where it
has wheels), found in this Python's scripts folder or on ``PATH``. With none, every display falls
back to the text tree with one line on how to get pictures; nothing raises. :func:`save` writes a
file chosen by its suffix.

Example:
    >>> inline_svg('<?xml version="1.0"?>\\n<svg width="8pt" xmlns="http://www.w3.org/2000/svg">'
    ...            '<!-- t1 --><g/></svg>')
    '<svg width="8pt" style="max-width:100%;height:auto"><g/></svg>'
"""

from __future__ import annotations

import contextlib
import functools
import html
import os
import re
import shutil
import subprocess
import sysconfig
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace
    from gradtrace.views.graph import Graph

__all__ = ["find_binary", "render", "inline_svg", "picture_or_text", "graph_html", "save",
           "PictureError", "INSTALL_HINT"]

INSTALL_HINT = ("gradtrace: no Graphviz program found, so the graph is shown as text. For "
                "pictures: pip install graphviz-pure, or install Graphviz (apt install graphviz, "
                "brew install graphviz, conda install graphviz).")
#: Seconds a layout may take when a picture is displayed (a saved file gets ``timeout``).
DISPLAY_TIMEOUT = 10.0
_SUFFIXES = (".svg", ".png", ".dot", ".gv", ".html", ".txt")


class PictureError(RuntimeError):
    """No Graphviz program, or it failed or took too long; the message says what to do."""


def find_binary() -> str | None:
    """The Graphviz program to use: ``dot`` on PATH, else ``graphviz-pure``, else None.

    The environment variable ``GRADTRACE_DOT`` (a program name or path) comes first when set.
    """
    chosen = os.environ.get("GRADTRACE_DOT")
    if chosen and shutil.which(chosen):
        return shutil.which(chosen)
    found = shutil.which("dot")
    if found:
        return found
    exe = "graphviz-pure" + (".exe" if os.name == "nt" else "")
    for folder in _script_folders():
        candidate = os.path.join(folder, exe)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return shutil.which("graphviz-pure")


def _script_folders() -> list[str]:
    """Where pip puts this Python's programs: its scripts folder, then the user's."""
    folders = [sysconfig.get_path("scripts")]
    try:
        user = sysconfig.get_preferred_scheme("user")
    except AttributeError:  # Python 3.9
        user = f"{os.name}_user"
    with contextlib.suppress(KeyError):
        folders.append(sysconfig.get_path("scripts", user))
    return folders


def render(source: str, fmt: str = "svg", *, binary: str | None = None,
           timeout: float | None = 60.0) -> bytes:
    """Lay out DOT ``source`` with Graphviz and return the ``fmt`` (``"svg"``, ``"png"``) bytes.

    Raises:
        PictureError: no program was found, it failed, or it ran past ``timeout`` seconds.
    """
    binary = binary or find_binary()
    if binary is None:
        raise PictureError(INSTALL_HINT)
    return _run(binary, fmt, source, timeout)


@functools.lru_cache(maxsize=16)
def _run(binary: str, fmt: str, source: str, timeout: float | None) -> bytes:
    try:
        done = subprocess.run([binary, f"-T{fmt}"], input=source.encode("utf-8"),
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise PictureError(
            f"gradtrace: Graphviz took more than {timeout:g} s to lay out the graph. Draw less of "
            "it: graph(depth=1), graph(hide_constants=True) or a smaller max_nodes.") from None
    except OSError as exc:
        raise PictureError(f"gradtrace: could not run {binary}: {exc}") from None
    if done.returncode != 0 or not done.stdout:
        error = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise PictureError(f"gradtrace: {os.path.basename(binary)} failed: "
                           f"{error[-1] if error else f'exit status {done.returncode}'}")
    return done.stdout


def inline_svg(svg: bytes | str) -> str:
    """An SVG document as an ``<svg>`` element for HTML: no prolog, comments or namespaces."""
    text = svg.decode("utf-8") if isinstance(svg, bytes) else svg
    text = re.sub(r"<!--.*?-->\s*", "", text[text.find("<svg"):], flags=re.S)
    head, rest = text.split(">", 1)
    head = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", head) + ' style="max-width:100%;height:auto"'
    return f"{head}>{rest.strip()}"


def picture_or_text(source: str, graph: Graph | None, *, svg: bool = True,
                    width: int = 100) -> tuple[str | None, str]:
    """The SVG of ``source`` (None without Graphviz or when ``svg`` is False) and a text form.

    The text is the tree of ``graph`` (the DOT source when there is none), with the reason
    there is no picture on the first line when one was wanted.
    """
    from gradtrace.views.tree import tree_lines

    text = "\n".join(tree_lines(graph, width=width)) if graph is not None else source
    if not svg:
        return None, text
    try:
        return render(source, "svg", timeout=DISPLAY_TIMEOUT).decode("utf-8"), text
    except PictureError as exc:
        return None, f"{exc}\n{text}"


def graph_html(graph: Graph, *, max_rows: int | None = None) -> str:
    """The graph for the HTML report: inline SVG, or the text tree in a ``<pre>``."""
    from gradtrace.views.dot import draw
    from gradtrace.views.tree import tree_lines

    try:
        svg = render(draw(graph).source, "svg", timeout=DISPLAY_TIMEOUT)
        return f'<div class="gt-graph">{inline_svg(svg)}</div>'
    except PictureError as exc:
        tree = "\n".join(tree_lines(graph, width=120, max_rows=max_rows))
        return (f'<p class="gt-dim">{html.escape(str(exc))}</p>\n'
                f'<pre class="gt-tree">{html.escape(tree)}</pre>')


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
    if suffix not in _SUFFIXES:
        raise ValueError(f"gradtrace: cannot save {out.name!r}: use one of {', '.join(_SUFFIXES)}")
    if suffix in (".html", ".txt"):
        if options:
            raise ValueError(f"gradtrace: graph options apply to .svg, .png and .dot, not {suffix}")
        from gradtrace.views.stepper import report_page

        body = str(trace) + "\n" if suffix == ".txt" else report_page(trace)
        out.write_text(body, encoding="utf-8")
        return out
    from gradtrace.views.dot import to_dot

    source = to_dot(trace, **options).source
    if suffix in (".dot", ".gv"):
        out.write_text(source, encoding="utf-8")
    else:
        out.write_bytes(render(source, suffix[1:]))
    return out
