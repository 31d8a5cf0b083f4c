"""``python -m gradtrace.exercise``: a random formula to differentiate by hand.

The exercises live in :mod:`gradtrace.teaching.exercise`; this module keeps the command (and
``from gradtrace.exercise import Exercise``) working.
"""

from __future__ import annotations

import sys

from gradtrace.teaching.exercise import Exercise, main

__all__ = ["Exercise", "main"]

if __name__ == "__main__":
    sys.exit(main())
