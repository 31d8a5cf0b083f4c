"""``python -m gradtrace.exercise``: a random formula to differentiate by hand.

The exercises live in :mod:`gradtrace.teaching.exercise`, the command in
:mod:`gradtrace.frontends.exercise`; this module keeps ``python -m gradtrace.exercise`` and
``from gradtrace.exercise import Exercise, random_formula`` working.
"""

from __future__ import annotations

import sys

from gradtrace.frontends.exercise import main
from gradtrace.teaching.exercise import Exercise
from gradtrace.teaching.formulas import Formula, random_formula

__all__ = ["Exercise", "Formula", "random_formula", "main"]

if __name__ == "__main__":
    sys.exit(main())
