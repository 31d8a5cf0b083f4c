"""gradtrace: see every step PyTorch's autograd takes.

Trace a block with ``with trace() as t:``, a function with ``@trace``, a notebook cell with
``%%gradtrace`` (after ``%load_ext gradtrace``), or a script with ``python -m gradtrace``.
Under ``torch.distributed``, ``python -m gradtrace --save DIR`` writes each rank's Trace;
:func:`load` reads one back and :func:`compare_ranks` puts the ranks side by side.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

#: The oldest torch gradtrace runs on: the test suite passes on torch 2.4.1 and on the newest
#: release; on 2.3.1 and 2.1.2 in-place changes through views are recorded wrongly.
MIN_TORCH = (2, 4)


def _require_torch() -> None:
    """Stop at import, in one line, on a torch older than :data:`MIN_TORCH`: failing later, in
    the middle of the user's first trace, would say nothing of the cause."""
    import torch

    found = re.match(r"(\d+)\.(\d+)", torch.__version__)
    if found is not None and (int(found[1]), int(found[2])) < MIN_TORCH:
        need = ".".join(map(str, MIN_TORCH))
        raise ImportError(f"gradtrace needs torch >= {need}, but torch {torch.__version__} is "
                          f"installed: upgrade it (pip install 'torch>={need}')")


_require_torch()

from gradtrace.frontends.api import trace  # noqa: E402
from gradtrace.model.saved import load  # noqa: E402
from gradtrace.model.trace import Trace  # noqa: E402
from gradtrace.watching import Watch, watch  # noqa: E402

if TYPE_CHECKING:
    from gradtrace.views.ranks import RankComparison

__all__ = ["trace", "Trace", "watch", "Watch", "load", "compare_ranks", "load_ipython_extension",
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
