"""Make docs/notebook.png: the example notebook run, exported by nbconvert, shot in Chromium."""

# Usage: python docs/make_screenshot.py   (needs the dev extra and the `chromium` package)
# The whole notebook runs in one kernel; the picture shows the accumulation cells of the export,
# which hold a warning, the tables and the graph.

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "notebook.png"
CELLS = ("accumulate-md", "accumulate")
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from notebook_tools import browse, execute, export_html  # noqa: E402


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        nb, _ = execute(Path(tmp))
        nb.cells = [c for c in nb.cells if c.id in CELLS]
        page = export_html(nb, Path(tmp) / "shot.html")
        browse(page.as_uri(), "--window-size=1000,1240", f"--screenshot={OUT}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
