"""Pictures of the graph: find a Graphviz program and turn DOT into SVG or PNG.

The program is the one ``$GRADTRACE_DOT`` names if set, else the system ``dot``, else
``graphviz-pure`` (a self-contained port of Graphviz on PyPI, a dependency of gradtrace where it
has wheels), found in this Python's scripts folder or on ``PATH``. With none, every display falls
back to the text tree with one line on how to get pictures; nothing raises.

Example:
    >>> inline_svg('<?xml version="1.0"?>\\n<svg width="8pt" xmlns="http://www.w3.org/2000/svg">'
    ...            '<!-- t1 --><g/></svg>')
    '<svg width="8pt" style="max-width:100%;height:auto"><g/></svg>'
    >>> svg_img(b'<svg width="75pt" height="30pt"><g/></svg>')[-71:]
    'width="100" height="40" style="max-width:none;width:100px;height:40px">'
"""

from __future__ import annotations

import base64
import contextlib
import functools
import os
import re
import shutil
import subprocess
import sysconfig

__all__ = ["find_binary", "render", "inline_svg", "svg_img", "svg_element",
           "svg_size", "PictureError", "INSTALL_HINT", "DISPLAY_TIMEOUT"]

INSTALL_HINT = ("gradtrace: no Graphviz program found, so the graph is shown as text. For "
                "pictures: pip install graphviz-pure, or install Graphviz (apt install graphviz, "
                "brew install graphviz, conda install graphviz).")
#: Seconds a layout may take when a picture is displayed (a saved file gets ``timeout``).
DISPLAY_TIMEOUT = 10.0


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


def svg_size(svg: bytes | str) -> tuple[int, int]:
    """The width and height in CSS pixels that an SVG asks for (Graphviz writes points)."""
    text = svg.decode("utf-8") if isinstance(svg, bytes) else svg
    head = text[text.find("<svg"):].split(">", 1)[0]

    def px(name: str) -> int:
        found = re.search(rf'\s{name}="([\d.]+)(pt|px)?"', head)
        if not found:
            return 0
        return round(float(found.group(1)) * (4 / 3 if found.group(2) == "pt" else 1))

    return px("width"), px("height")


def svg_element(svg: bytes | str) -> str:
    """An SVG as an ``<svg>`` element at its own size, for a page no sanitizer touches."""
    return inline_svg(svg).replace(' style="max-width:100%;height:auto"', ' style="max-width:none"',
                                   1)


def svg_img(svg: bytes | str, alt: str = "graph") -> str:
    """An SVG as an ``<img>`` with a ``data:`` URL, at its own size (never shrunk to the box).

    JupyterLab's sanitizer (an untrusted notebook) drops ``<svg>`` but keeps this; at its own size
    Graphviz's smallest text (8 pt) is 10.7 px, so a box too small for the graph scrolls.
    """
    raw = svg.encode("utf-8") if isinstance(svg, str) else svg
    width, height = svg_size(raw)
    src = base64.b64encode(raw).decode("ascii")
    return (f'<img class="gt-pic" src="data:image/svg+xml;base64,{src}" alt="{alt}" '
            f'width="{width}" height="{height}" '
            f'style="max-width:none;width:{width}px;height:{height}px">')
