"""Make docs/stepper.png: the stepper of the lab's backprop formula, shot in headless Chromium.

Run from the repository root::

    python docs/make_stepper_screenshot.py      # needs the `chromium` package and Graphviz

It traces ``examples/07_backprop_formula.py`` as ``python -m gradtrace`` does, writes the
stepper as a page and opens it at ``#step=19`` (backward step 5, where the ``AddBackward0`` of
``x_3 + x_4 + x_5`` sends ``x_5`` its second share of the gradient).
"""

from __future__ import annotations

import contextlib
import io
import os
import runpy
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gradtrace import Trace, trace  # noqa: E402
from gradtrace.views.stepper import stepper_html  # noqa: E402

SCRIPT = ROOT / "examples" / "07_backprop_formula.py"
OUT = ROOT / "docs" / "stepper.png"
STEP = 19


def formula_trace() -> Trace:
    """y = log(exp(x_1*x_2)**2 + sin(x_3+x_4+x_5)*x_5) at x = [1, 2, -1, 3, 5], traced."""
    with contextlib.redirect_stdout(io.StringIO()), trace(files=[str(SCRIPT)], show=False) as t:
        runpy.run_path(str(SCRIPT), run_name="__main__")
    return t


def main() -> int:
    chromium = next(filter(None, map(shutil.which, ("chromium", "chromium-browser",
                                                    "google-chrome"))), None)
    if chromium is None:
        print("chromium is not installed", file=sys.stderr)
        return 1
    page = ("<!doctype html><meta charset=utf-8><title>gradtrace stepper</title>"
            "<body style='margin:8px;background:#fff'>"
            f"{stepper_html(formula_trace())}</body>")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stepper.html"
        path.write_text(page, encoding="utf-8")
        subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--hide-scrollbars", f"--user-data-dir={Path(tmp) / 'profile'}",
             "--virtual-time-budget=2000", "--window-size=1200,900", f"--screenshot={OUT}",
             f"{path.as_uri()}#step={STEP}"],
            check=True, capture_output=True, timeout=120, env={**os.environ})
    print(f"wrote {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
