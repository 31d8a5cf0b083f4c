"""The notebook view of ``%%gradtrace --watch N``: one output updated in place at each sample,
then the figure and the latest sample's table.

# NOTE [one output area]
# ``display(..., display_id=True)`` returns a handle whose ``update()`` replaces that output's
# content where it is: a training cell shows one status line that changes, not a new line per
# sample. The status is plain HTML (``<pre>``) beside its text, so an untrusted notebook shows it.
"""

# mypy: disable-error-code="no-untyped-call"
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from IPython.display import Image, display

from gradtrace.watching.report import latest, status, status_html

if TYPE_CHECKING:
    from gradtrace.watching.watcher import Watch

__all__ = ["Live"]


class _Status:
    def __init__(self, text: str, markup: str) -> None:
        self.text, self.markup = text, markup

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/plain": self.text, "text/html": self.markup}


class Live:
    """One display handle, updated at each sample of a watch."""

    def __init__(self) -> None:
        self.handle: Any = display(_Status("gradtrace watch: starting", "<pre>gradtrace watch: "
                                           "starting</pre>"), display_id=True)
        self.updates = 0

    def update(self, w: Watch) -> None:
        self.updates += 1
        if self.handle is not None:
            self.handle.update(_Status(status(w), status_html(w)))

    def finish(self, w: Watch, shown: list[str] | None = None) -> None:
        """The final status in place, then the figure (a PNG, where the front end shows one:
        ``shown`` lists the MIME types it shows, None for all) and the table below it."""
        self.update(w)
        if shown is not None and "image/png" not in shown:
            display(latest(w))
            return
        try:
            png = w.plot()._repr_png_()
        except ImportError as e:
            print(e)
        else:
            display(Image(data=png, format="png"))
        display(latest(w))
