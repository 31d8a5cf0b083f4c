"""Whether a change keeps everything a user reads identical: every example and corpus program
traced by this checkout and by another revision, and the outputs compared.

Usage::

    python benchmarks/same_outputs.py --against 984d915          # examples and corpus
    python benchmarks/same_outputs.py --against HEAD~3 --keep out  # also keep both dumps in out/

Each program (``examples/*.py``, ``tests/corpus/*/*.py``) runs under ``python -m gradtrace``
in a process of its own per side, seeded the same. What is compared: the tables as DataFrames
with every digit (``t.forward``, ``t.backward``, ``t.edges``, ``t.tensors``, ``t.updates``), the
warnings, the text report at width 120, and the Graphviz source of the graph. Lines that differ
from run to run are left out: memory addresses, and the uninitialised values ``torch.empty``
returns. Prints the first lines of the difference for each program that differs, and exits 1 if
any does.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

from revisions import ROOT as _ROOT
from revisions import unpack

ROOT = Path(_ROOT)
PROGRAMS = sorted(ROOT.glob("examples/[0-9]*.py")) + sorted(ROOT.glob("tests/corpus/*/*.py"))
# needs several processes (torchrun) or a widget front end: traced by their own tests
SKIP = {"12_ddp.py", "13_watch.py"}


def dump(program: Path) -> str:
    """Everything a user reads of ``program``'s trace, as text."""
    import contextlib
    import io

    import pandas as pd

    from gradtrace.frontends.cli import main
    from gradtrace.model.saved import load

    pd.set_option("display.width", 10_000)
    with tempfile.TemporaryDirectory() as saved, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            main(["--save", saved, str(program)])
        t = load(Path(saved) / "rank0.gtrace")
    parts = []
    for table in ("forward", "backward", "edges", "tensors", "updates"):
        parts.append(f"== {table}\n" + getattr(t, table).to_csv(float_format=repr))
    parts.append("== warnings\n" + "\n".join(str(w) for w in t.warnings))
    from gradtrace.views.text import to_text

    parts.append("== text\n" + to_text(t, width=120))
    try:
        parts.append("== dot\n" + t.graph().source)
    except Exception as e:
        parts.append(f"== dot\nfailed: {type(e).__name__}: {e}")
    text = "\n".join(parts)
    return "\n".join(line for line in text.splitlines() if not _UNSTABLE.search(line))


# lines that differ from run to run: memory addresses, and what ``torch.empty`` happened to find
_UNSTABLE = re.compile(r" at 0x|\bempty\w*\(|,empty\w*,")


def run_side(out: Path, package: str) -> None:
    """Dump every program traced with the package ``gradtrace`` found under ``package``."""
    env = dict(os.environ, PYTHONPATH=package)
    out.mkdir(parents=True, exist_ok=True)
    for program in PROGRAMS:
        if program.name in SKIP:
            continue
        name = f"{program.parent.name}-{program.stem}.txt"
        done = subprocess.run([sys.executable, __file__, "--dump", str(program)], env=env,
                              capture_output=True, text=True, cwd=program.parent)
        (out / name).write_text(done.stdout if done.returncode == 0
                                else f"failed:\n{done.stderr[-2000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", metavar="REV", help="the git revision to compare with")
    parser.add_argument("--keep", metavar="DIR", help="keep both sides' dumps in DIR")
    parser.add_argument("--dump", metavar="PROGRAM", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.dump:
        sys.stdout.write(dump(Path(args.dump)))
        return
    if not args.against:
        parser.error("--against REV is required")
    with tempfile.TemporaryDirectory() as scratch:
        before_pkg = Path(scratch) / "package"
        unpack(args.against, str(before_pkg))
        keep = Path(args.keep) if args.keep else Path(scratch)
        before, now = keep / "before", keep / "now"
        print(f"tracing {len(PROGRAMS) - len(SKIP)} programs with {args.against} ...", flush=True)
        # this checkout as it is now: edits made while this runs are not measured
        now_pkg = Path(scratch) / "checkout"
        shutil.copytree(ROOT / "gradtrace", now_pkg / "gradtrace",
                        ignore=shutil.ignore_patterns("__pycache__"))
        run_side(before, str(before_pkg))
        print("... and with this checkout", flush=True)
        run_side(now, str(now_pkg))
        differ = 0
        for path in sorted(before.iterdir()):
            a, b = path.read_text().splitlines(), (now / path.name).read_text().splitlines()
            if a != b:
                differ += 1
                diff = list(difflib.unified_diff(a, b, "before", "now", lineterm="", n=0))
                print(f"{path.stem}: differs\n  " + "\n  ".join(diff[2:12]))
        print(f"{differ} of {len(list(before.iterdir()))} programs differ")
        if differ:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
