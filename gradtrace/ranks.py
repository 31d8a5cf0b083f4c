"""``python -m gradtrace.ranks DIR``: the ranks of a distributed run side by side.

The command lives in :mod:`gradtrace.frontends.ranks`, the comparison in
:mod:`gradtrace.views.ranks`; this module keeps ``python -m gradtrace.ranks`` working.
"""

from __future__ import annotations

import sys

from gradtrace.frontends.ranks import main
from gradtrace.views.ranks import RankComparison, compare_ranks

__all__ = ["RankComparison", "compare_ranks", "main"]

if __name__ == "__main__":
    sys.exit(main())
