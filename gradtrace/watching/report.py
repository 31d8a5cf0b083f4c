"""What a watch says in words: a status line, the latest sample as a table, the text report."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas

    from gradtrace.watching.watcher import Watch

__all__ = ["status", "status_html", "latest", "to_text"]

_SHOWN = ["name", "kind", "mean", "std", "saturated", "dead", "grad_std", "grad_data_ratio",
          "update_data_ratio"]


def status(w: Watch) -> str:
    """One line: the iteration, the samples, the latest loss, and the warnings so far."""
    iterations, loss = w.stats.sample_column("loss")
    latest = f", loss {loss[-1]:.4g} at iteration {iterations[-1]}" if len(loss) else ""
    found = w.warnings
    line = (f"gradtrace watch: iteration {w.iteration}, {w.stats.samples} sampled "
            f"(every {w.every}){latest}, {len(found)} warning{'s' * (len(found) != 1)}")
    return "\n".join([line, *(f"! {d}" for d in found)])


def status_html(w: Watch) -> str:
    """:func:`status` as HTML that untrusted notebooks keep (no style, no script)."""
    lines = status(w).split("\n")
    return "<pre>" + "\n".join(html.escape(x) for x in lines) + "</pre>"


def latest(w: Watch) -> pandas.DataFrame:
    """The rows of the latest sample (one per tensor), as :attr:`Watch.history` holds them."""
    frame = w.history
    if frame.empty:
        return frame[_SHOWN]
    return frame[frame.iteration == frame.iteration.max()][_SHOWN].reset_index(drop=True)


def to_text(w: Watch, width: int | None = None) -> str:
    """The status, the warnings and the latest sample's table, for a terminal."""
    import pandas

    table = latest(w)
    with pandas.option_context("display.width", width or 120, "display.max_rows", None,
                               "display.max_columns", None,
                               "display.float_format", "{:.4g}".format):
        body = table.to_string(index=False) if not table.empty else "(no iteration sampled)"
    return status(w) + "\n\n" + body
