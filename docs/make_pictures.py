"""Draw the README's picture: the graph of the lab's backprop formula example.

Run from the repository root::

    python docs/make_pictures.py                          # the Graphviz gradtrace finds
    GRADTRACE_DOT=graphviz-pure python docs/make_pictures.py   # the same bytes on every machine

It traces ``examples/07_backprop_formula.py`` as ``python -m gradtrace`` does and writes
``docs/backprop_formula.svg`` and ``docs/backprop_formula.png`` with ``Trace.save``.
"""

from __future__ import annotations

import contextlib
import io
import os
import runpy
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from gradtrace import Trace, trace  # noqa: E402
from gradtrace.views.pictures import find_binary  # noqa: E402

SCRIPT = os.path.join(ROOT, "examples", "07_backprop_formula.py")


def formula_trace() -> Trace:
    """y = log(exp(x_1*x_2)**2 + sin(x_3+x_4+x_5)*x_5) at x = [1, 2, -1, 3, 5], traced."""
    with contextlib.redirect_stdout(io.StringIO()), trace(files=[SCRIPT], show=False) as t:
        runpy.run_path(SCRIPT, run_name="__main__")
    return t


def main() -> int:
    if find_binary() is None:
        print("no Graphviz program found: pip install graphviz-pure", file=sys.stderr)
        return 1
    t = formula_trace()
    for suffix in ("svg", "png"):
        path = t.save(os.path.join(ROOT, "docs", f"backprop_formula.{suffix}"))
        print(f"wrote {os.path.relpath(path, ROOT)} with {find_binary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
