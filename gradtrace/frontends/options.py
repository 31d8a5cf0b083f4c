"""The options ``%%gradtrace`` and ``python -m gradtrace`` share, defined and checked once.

Each option is its flags and the keywords of argparse's ``add_argument``; both front ends add
every one to their parser (IPython's ``magic_arguments`` is argparse too), and each value is
checked as it is parsed, so a bad one is the front end's own usage error. A front end merges the
parsed values over its defaults with :func:`trace_options` and :func:`view_options`.

Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_options(parser.add_argument)
    >>> args = parser.parse_args(["--max-rows", "5", "--ignore", "accumulation", "--no-retain"])
    >>> trace_options(args)
    {'retain_grad': False, 'values': 'summary', 'check': False, 'ignore': ('accumulation',)}
    >>> view_options(args)
    {'sections': ('warnings', 'forward', 'backward', 'updates', 'graph'), 'max_rows': 5}
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NamedTuple

from gradtrace.capture.summaries import VALUES
from gradtrace.diagnostics.diagnostic import KINDS
from gradtrace.views.sections import parse_sections

__all__ = ["Option", "OPTIONS", "add_options", "trace_options", "view_options", "count"]


def count(text: str) -> int:
    """A whole number >= 0, for argparse's ``type=``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more: {text!r}")
    return value


def _sections(text: str) -> tuple[str, ...]:
    try:
        return parse_sections(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _kinds(text: str) -> tuple[str, ...]:
    kinds = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown warning kind(s) {', '.join(map(repr, unknown))}: choose from "
            f"{', '.join(KINDS)} (comma-separated)")
    return kinds


class Option(NamedTuple):
    """One option: its flags and the keywords of ``add_argument``."""

    flags: tuple[str, ...]
    keywords: dict[str, Any]


OPTIONS = (
    Option(("--sections",), dict(
        metavar="SECTIONS", type=_sections,
        help="comma-separated sections to show, from warnings, forward, backward, updates, "
             "tensors, graph (or all, none); default: all but tensors")),
    Option(("--max-rows",), dict(
        metavar="N", type=count, help="most rows shown per table (0: all)")),
    Option(("--values",), dict(
        metavar="MODE", choices=VALUES,
        help="what to keep of each tensor: summary (default: small ones whole, statistics of "
             "the rest), full (every tensor whole), none (shapes only, fastest)")),
    Option(("--check",), dict(
        action="store_true",
        help="check custom autograd.Functions' backward with finite differences")),
    Option(("--ignore",), dict(
        metavar="KINDS", type=_kinds, default=(),
        help="comma-separated warning kinds not to report, e.g. accumulation")),
    Option(("--no-retain",), dict(
        dest="retain_grad", action="store_const", const=False,
        help="do not call retain_grad() on intermediate tensors (big models)")),
)


def add_options(add: Callable[..., Any]) -> None:
    """Call ``add(*flags, **keywords)`` for each option, in order (``parser.add_argument``)."""
    for option in OPTIONS:
        add(*option.flags, **option.keywords)


def trace_options(args: Any, *, retain_grad: bool = True,
                  values: str = "summary") -> dict[str, Any]:
    """The keywords of :func:`gradtrace.trace` the parsed ``args`` give, over the defaults."""
    return dict(retain_grad=retain_grad if args.retain_grad is None else args.retain_grad,
                values=values if args.values is None else args.values,
                check=bool(args.check), ignore=tuple(args.ignore))


def view_options(args: Any, *, max_rows: int = 0) -> dict[str, Any]:
    """The ``sections`` and ``max_rows`` (None: every row) the parsed ``args`` give."""
    rows = max_rows if args.max_rows is None else args.max_rows
    return dict(sections=parse_sections(args.sections), max_rows=rows or None)
