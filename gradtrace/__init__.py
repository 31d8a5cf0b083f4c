"""gradtrace: see every step PyTorch's autograd takes.

Trace a block with ``with trace() as t:``, a function with ``@trace``, a notebook cell with
``%%gradtrace`` (after ``%load_ext gradtrace``), or a script with ``python -m gradtrace``.
"""

from __future__ import annotations

from gradtrace.api import trace
from gradtrace.model import Trace

__all__ = ["trace", "Trace", "__version__"]
__version__ = "0.1.0"
