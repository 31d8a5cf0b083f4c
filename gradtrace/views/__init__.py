"""Renderers: plain functions that read a Trace and return text, HTML, DataFrames or a graph.

Each renderer is imported when first used: reading ``t.forward`` loads only the DataFrame
builders, not the text and HTML reports; pandas is imported only when a DataFrame is asked for,
and graphviz only when ``to_dot`` is used, so importing this package stays light.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gradtrace.views.dataframes import (
        backward_frame,
        edges_frame,
        forward_frame,
        tensors_frame,
    )
    from gradtrace.views.dot import to_dot
    from gradtrace.views.html import to_html
    from gradtrace.views.text import to_text
    from gradtrace.views.tree import to_tree

__all__ = ["to_text", "to_html", "forward_frame", "backward_frame", "tensors_frame", "edges_frame",
           "to_dot",
           "to_tree"]

#: The module each renderer lives in.
_HOMES = {"to_text": "text", "to_html": "html", "to_tree": "tree", "to_dot": "dot",
          **{name: "dataframes" for name in ("forward_frame", "backward_frame", "tensors_frame",
                                             "edges_frame")}}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(import_module(f"gradtrace.views.{_HOMES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
