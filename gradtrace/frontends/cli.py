"""``python -m gradtrace [options] [--save DIR] SCRIPT.py [args...]``: trace a whole script.

Runs the script as ``python SCRIPT.py args...`` would (``__name__ == "__main__"``, its own
``sys.argv``, its folder first on ``sys.path``), traces the lines of that file, and prints the text
report after the script's own output, the way ``python -m cProfile script.py`` prints its profile.
When the script raises, the report is printed all the same (naming the error and its line), then
the traceback with the error's message, and the exit status is 1. Besides ``--html`` and
``--width``, it takes the options of ``%%gradtrace`` (:mod:`~gradtrace.frontends.options`). With
``--save DIR`` (under ``torchrun`` too) each rank's Trace and reports go to DIR and rank 0 prints
the ranks side by side (:mod:`gradtrace.frontends.distributed`).
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
import time
import traceback
from typing import TYPE_CHECKING, Any

from gradtrace.frontends.options import add_options, trace_options, view_options

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace

__all__ = ["main"]

_PROG = "python -m gradtrace"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Run a Python script under gradtrace and print what autograd did.",
        epilog="Options go before the script; everything after it is the script's own argv.",
    )
    parser.add_argument("--html", metavar="FILE", help="also write the report as an HTML page")
    parser.add_argument("--width", metavar="N", type=_positive_int,
                        help="width of the text report (default: the terminal's)")
    add_options(parser.add_argument)
    parser.add_argument("--save", metavar="DIR",
                        help="write each rank's Trace (DIR/rank{r}.gtrace) and reports to DIR; "
                             "rank 0 prints a summary across ranks")
    parser.add_argument("--watch", metavar="N", type=_positive_int,
                        help="watch training instead: trace one iteration in N and print each "
                             "layer's statistics at the end (under torchrun, rank 0 prints)")
    parser.add_argument("--plot", metavar="FILE",
                        help="with --watch: save makemore's figure to FILE (a .png)")
    parser.add_argument("script", help="the Python file to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments passed to the script")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Run a script under :func:`gradtrace.trace` and print the report; return the exit status.

    Args:
        argv: the command line after ``python -m gradtrace`` (default: ``sys.argv[1:]``).

    Returns:
        The script's exit status: 0, the code it passed to ``sys.exit``, or 1 if it raised.
        Usage errors (no such script, a bad option) raise ``SystemExit(2)`` as argparse does.

    Example:
        >>> main([])  # doctest: +ELLIPSIS
        usage: python -m gradtrace ...
        2
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = _parser()
    if not argv:
        parser.print_help()
        return 2
    ns = parser.parse_args(argv)
    script, args = _script_and_args(parser, ns, argv)

    if ns.plot and not ns.watch:
        parser.error("--plot needs --watch N")
    for given, option in ((ns.html, "--html"), (ns.save, "--save")):
        if given and ns.watch:
            parser.error(f"{option} writes a trace of the whole script; --watch N prints a table "
                         "(and --plot FILE saves a figure): choose one")
    from gradtrace.frontends.api import trace

    # runpy compiles the file under the path string as given: trace that and its absolute form.
    files = list(dict.fromkeys([script, os.path.abspath(script)]))
    saved_argv, saved_path = sys.argv, sys.path[:]
    sys.argv = [script, *args]
    sys.path.insert(0, os.path.dirname(os.path.abspath(script)))
    status = 0
    started = time.time()
    error: BaseException | None = None
    t: Trace | None = None
    watched = None
    try:
        if ns.watch:
            from gradtrace.watching import watch
            from gradtrace.watching.watcher import SAMPLE_VALUES

            with watch(files=files, every=ns.watch,
                       values=ns.values or SAMPLE_VALUES) as watched:
                runpy.run_path(script, run_name="__main__")
        else:
            with trace(files=files, show=False, **trace_options(ns)) as t:
                runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        status = _exit_status(exc.code)
    except BaseException as exc:
        if t is None and watched is None:  # the tracer failed to start: not the script's error
            raise
        error, status = exc, 1
    finally:
        sys.argv = saved_argv
        sys.path[:] = saved_path

    if watched is not None:
        _print_watch(watched, ns)
        if error is not None:
            sys.stdout.flush()
            _print_error(error, files)
        return status
    assert t is not None
    _print_report(t, ns, os.path.basename(script), started, error is not None)
    if ns.html:
        _write_html(t, ns.html, os.path.basename(script))
    if error is not None:
        sys.stdout.flush()
        _print_error(error, files)
    return status


def _script_and_args(parser: argparse.ArgumentParser, ns: argparse.Namespace,
                     argv: list[str]) -> tuple[str, list[str]]:
    """The script to run and its own arguments; a usage error when it is no file."""
    script: str = ns.script
    args: list[str] = ns.args
    # argparse drops a "--" that directly follows the script; the script may want it.
    rest = len(argv) - len(args)
    if rest >= 2 and argv[rest - 1] == "--" and argv[rest - 2] == script:
        args = ["--", *args]
    if not os.path.isfile(script):
        why = "it is a directory" if os.path.isdir(script) else "no such file"
        parser.error(f"can't open file {script!r}: {why}")
    return script, args


def _print_report(t: Trace, ns: argparse.Namespace, script_name: str, started: float,
                  failed: bool) -> None:
    """The text report; with ``--save``, each rank's files and rank 0's summary across ranks."""
    if ns.save:
        from gradtrace.frontends.distributed import report

        text = report(t, ns.save, script_name, started, ns.width)
        if text is not None:
            print(text)
        return
    from gradtrace.frontends.distributed import rank_header
    from gradtrace.views.text import to_text

    print(rank_header(t) + to_text(t, width=ns.width, brief_error=failed, **view_options(ns)))


def _print_watch(w: Any, ns: argparse.Namespace) -> None:
    """The watch's table (rank 0 only under torch.distributed) and the figure if asked."""
    if _rank() != 0:
        return
    from gradtrace.watching.report import to_text

    print(to_text(w, ns.width))
    if ns.plot:
        w.plot(ns.plot)
        print(f"gradtrace: figure saved to {ns.plot}")


def _rank() -> int:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        return int(dist.get_rank())
    return int(os.environ.get("RANK", "0"))


def _write_html(t: Trace, path: str, script_name: str) -> None:
    from gradtrace.views.files import report_page

    page = report_page(t, f"gradtrace: {script_name}")
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)


def _exit_status(code: object) -> int:
    """The status ``sys.exit(code)`` gives, as the interpreter computes it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _print_error(error: BaseException, files: list[str]) -> None:
    """Print the traceback as plain ``python script.py`` would: from the script's first frame,
    without the frames that tracing adds (the same error happens untraced)."""
    from gradtrace.frontends.cells import user_traceback

    tb = user_traceback(error.__traceback__, files)
    print("".join(traceback.format_exception(type(error), error, tb)), end="", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
