"""Renderers: plain functions that read a Trace and return text, HTML or DataFrames.

pandas is imported only when a DataFrame is asked for, so importing this package stays light.
"""

from __future__ import annotations

from gradtrace.render.html import to_html
from gradtrace.render.table import backward_frame, forward_frame, tensors_frame
from gradtrace.render.text import to_text

__all__ = ["to_text", "to_html", "forward_frame", "backward_frame", "tensors_frame"]
