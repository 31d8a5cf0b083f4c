"""``python -m gradtrace --save DIR``: each rank's Trace and reports in DIR, one summary on stdout.

Under ``torchrun`` every rank runs the script under its own trace. Each writes
``DIR/rank{r}.gtrace`` (:func:`gradtrace.load`), ``rank{r}.txt`` and ``rank{r}.html``; rank 0 then
waits for the other ranks' files and prints the ranks side by side
(:func:`gradtrace.compare_ranks`); the other ranks print nothing. Without ``torch.distributed``
the one process is rank 0 of 1 and prints its own report as usual.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace

__all__ = ["save_rank", "report", "rank_header"]

_WAIT_S = 120.0  # how long rank 0 waits for the other ranks' files


def save_rank(t: Trace, folder: str | os.PathLike[str], title: str) -> Path:
    """Write ``t`` as ``rank{r}.gtrace``, with its text and HTML reports; returns the .gtrace."""
    from gradtrace.views.files import report_page
    from gradtrace.views.text import to_text

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"rank{t.rank}"
    (out / f"{stem}.txt").write_text(to_text(t) + "\n", encoding="utf-8")
    (out / f"{stem}.html").write_text(report_page(t, f"{title} (rank {t.rank})"),
                                      encoding="utf-8")
    return t.save(out / f"{stem}.gtrace")  # last: rank 0 waits for this one


def report(t: Trace, folder: str | os.PathLike[str], title: str, started: float,
           width: int | None = None) -> str | None:
    """Save this rank's files; on rank 0, the text to print (None on the other ranks).

    ``started`` is when this process began (``time.time()``): files older than that are from
    an earlier run and are waited for again.
    """
    save_rank(t, folder, title)
    if t.rank != 0:
        return None
    if t.world_size == 1:
        from gradtrace.views.text import to_text

        return to_text(t, width=width) + f"\n\nsaved: {Path(folder) / 'rank0.gtrace'}"
    paths = [Path(folder) / f"rank{r}.gtrace" for r in range(t.world_size)]
    deadline = time.monotonic() + _WAIT_S
    while not all(p.exists() and p.stat().st_mtime >= started - 1 for p in paths):
        if time.monotonic() > deadline:
            missing = [p.name for p in paths if not p.exists()]
            return (f"gradtrace: rank 0 saved {paths[0]}; no file from "
                    f"{', '.join(missing) or 'some ranks'} after {_WAIT_S:.0f} s. "
                    f"Compare later with: python -m gradtrace.ranks {folder}")
        time.sleep(0.05)
    from gradtrace.views.ranks import compare_ranks

    return (f"{compare_ranks(paths)}\n\neach rank's report: {Path(folder)}/rank{{r}}.txt, "
            f".html; the Traces: rank{{r}}.gtrace (gradtrace.load)")


def rank_header(t: Trace) -> str:
    """A line that tells the ranks' reports apart on one stdout ("" outside distributed runs)."""
    return f"gradtrace: rank {t.rank} of {t.world_size}\n" if t.world_size > 1 else ""
