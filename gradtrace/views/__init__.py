"""Renderers: plain functions that read a Trace and return text, HTML, DataFrames or a graph.

pandas is imported only when a DataFrame is asked for, and graphviz only when ``to_dot`` is used,
so importing this package stays light.
"""

from __future__ import annotations

from typing import Any

from gradtrace.views.dataframes import (
    backward_frame,
    edges_frame,
    forward_frame,
    tensors_frame,
)
from gradtrace.views.html import to_html
from gradtrace.views.text import to_text
from gradtrace.views.tree import to_tree

__all__ = ["to_text", "to_html", "forward_frame", "backward_frame", "tensors_frame", "edges_frame",
           "to_dot",
           "to_tree"]


def __getattr__(name: str) -> Any:
    if name == "to_dot":  # imports graphviz: only on first use
        from gradtrace.views.dot import to_dot

        return to_dot
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
