"""gradtrace: see every step PyTorch's autograd takes.

Trace a block with ``with trace() as t:``, a function with ``@trace``, a notebook cell with
``%%gradtrace`` (after ``%load_ext gradtrace``), or a script with ``python -m gradtrace``.
Under ``torch.distributed``, ``python -m gradtrace --save DIR`` writes each rank's Trace;
:func:`load` reads one back and :func:`compare_ranks` puts the ranks side by side.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from gradtrace.frontends.api import trace
from gradtrace.model.saved import load
from gradtrace.model.trace import Trace

if TYPE_CHECKING:
    from gradtrace.views.ranks import RankComparison

__all__ = ["trace", "Trace", "load", "compare_ranks", "load_ipython_extension",
           "unload_ipython_extension", "__version__"]
__version__ = "0.1.0"


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext gradtrace``: register the ``%%gradtrace`` cell magic (imports IPython)."""
    from gradtrace.frontends.magics import load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext gradtrace``: remove the ``%%gradtrace`` cell magic."""
    from gradtrace.frontends.magics import unload

    unload(ipython)


def compare_ranks(traces: Iterable[Trace | str | os.PathLike[str]] | str | os.PathLike[str]
                  ) -> RankComparison:
    """The Traces of every rank side by side (Traces, ``.gtrace`` paths or their folder): see
    :func:`gradtrace.views.ranks.compare_ranks`."""
    from gradtrace.views.ranks import compare_ranks as compare

    return compare(traces)
