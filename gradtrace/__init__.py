"""gradtrace: see every step PyTorch's autograd takes.

Trace a block with ``with trace() as t:``, a function with ``@trace``, a notebook cell with
``%%gradtrace`` (after ``%load_ext gradtrace``), or a script with ``python -m gradtrace``.
"""

from __future__ import annotations

from typing import Any

from gradtrace.frontends.api import trace
from gradtrace.model.trace import Trace

__all__ = ["trace", "Trace", "load_ipython_extension", "unload_ipython_extension",
           "__version__"]
__version__ = "0.1.0"


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext gradtrace``: register the ``%%gradtrace`` cell magic (imports IPython)."""
    from gradtrace.frontends.magics import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext gradtrace``: remove the ``%%gradtrace`` cell magic."""
    from gradtrace.frontends.magics import unload

    unload(ipython)
