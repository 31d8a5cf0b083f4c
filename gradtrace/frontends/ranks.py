"""``python -m gradtrace.ranks DIR``: print the ranks of a ``--save DIR`` run side by side."""

from __future__ import annotations

import argparse
import sys

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Print :func:`gradtrace.compare_ranks` of the ``rank*.gtrace`` files in a folder (or the
    files given); return 1 when a rank_desync or unused_parameter warning was found.

    Example:
        >>> main(["/no/such/folder"])  # doctest: +ELLIPSIS
        gradtrace: no rank*.gtrace files in '/no/such/folder'
        2
    """
    parser = argparse.ArgumentParser(
        prog="python -m gradtrace.ranks",
        description="Compare the ranks of a distributed run saved with python -m gradtrace "
                    "--save DIR.")
    parser.add_argument("paths", nargs="+", metavar="DIR_OR_FILE",
                        help="the folder --save wrote, or .gtrace files")
    parser.add_argument("--html", metavar="FILE", help="also write the comparison as HTML")
    ns = parser.parse_args(sys.argv[1:] if argv is None else argv)
    from gradtrace.views.ranks import compare_ranks

    try:
        c = compare_ranks(ns.paths[0] if len(ns.paths) == 1 and not
                          ns.paths[0].endswith(".gtrace") else ns.paths)
    except (FileNotFoundError, ValueError) as e:
        print(e)
        return 2
    print(c)
    if ns.html:
        with open(ns.html, "w", encoding="utf-8") as f:
            f.write(f"<!doctype html><meta charset=utf-8><title>gradtrace: ranks</title>\n"
                    f"{c.to_html()}\n")
    return 1 if c.warnings.of("rank_desync", "unused_parameter") else 0
