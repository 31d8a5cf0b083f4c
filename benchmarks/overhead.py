"""How much slower PyTorch code runs under gradtrace, and how much a kept Trace holds.

Usage::

    python benchmarks/overhead.py                 # all models, gradtrace only
    python benchmarks/overhead.py --peers         # also torchviz / torchlens where installed
    python benchmarks/overhead.py --models mlp --repeat 50
    python benchmarks/overhead.py --against 6e95389   # this checkout against a commit
    python benchmarks/overhead.py --against 6e95389 --name-models   # both naming models.py
    python benchmarks/overhead.py --against HEAD --processes 5      # the noise alone

For each model (see ``models.py``) it runs forward + backward plainly, under ``trace()`` with the
Trace built (record only), and under ``trace()`` followed by a user's first read of
``t.forward``, ``t.backward``, ``t.tensors`` and ``t.warnings`` (record + read), interleaved, one
thread, median of ``--repeat`` runs, in the same process. It prints plain ms, record ms and its
ratio, record + read ms and its ratio, the ops and backward steps recorded, the pickled size of
one kept Trace, and the seconds its default notebook view (warnings, tables, graph SVG) takes.
Peers run in a process of their own, because torchlens patches torch globally; each is timed
against plain PyTorch in its own process, and gradtrace's lead is the ratio of the ratios.

``--against REV`` compares this checkout's gradtrace with the one of git revision ``REV`` in one
process per model: that revision's package is imported under another name, and plain, recorded
and recorded + read steps of both run interleaved step by step, their order turning each round,
so that both see the same machine, warm or busy; times are the process's CPU time, which
other work on a busy machine does not inflate. It prints each side's median ratios and their
change: the median of each round's now / then (both timed in that round), with a 90%
bootstrap interval of it. A process's own layout of memory moves its figures by a few percent
whatever the rounds say: ``--processes K`` measures in K processes per model and gives the
median change and the least and greatest process's. ``--against HEAD`` measures the noise
alone. ``models.py`` lies under the working folder, so this checkout counts it as the user's own
code and names the variables of its ``forward`` methods (``mean``, ``scores``, ``gelu``), which
revisions before that feature did not: ``--name-models`` gives both sides ``models.py`` as a
traced file, so that both do that work and the comparison is of the same job.
"""

from __future__ import annotations

import argparse
import gc
import glob
import json
import os
import pickle
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from models import MODELS, build
from revisions import ROOT, unpack


def loss_of(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> Callable[[], torch.Tensor]:
    return lambda: F.cross_entropy(model(x), y)


def step(model: torch.nn.Module, loss_fn: Callable[[], torch.Tensor]) -> None:
    model.zero_grad(set_to_none=True)
    loss_fn().backward()


def measure_gradtrace(name: str, repeat: int, values: str = "summary") -> dict[str, float]:
    from gradtrace import Trace, trace

    model, x, y = build(name)
    loss_fn = loss_of(model, x, y)
    for _ in range(3):
        step(model, loss_fn)
    plain, traced, read = [], [], []
    kept: Trace | None = None
    for _ in range(repeat):  # plain, recorded, recorded and read: interleaved
        gc.collect()
        t0 = time.perf_counter()
        step(model, loss_fn)
        plain.append(time.perf_counter() - t0)
        gc.collect()
        t0 = time.perf_counter()
        with trace(values=values) as last:
            step(model, loss_fn)
        last.records  # noqa: B018 (what the next read builds first)
        traced.append(time.perf_counter() - t0)
        gc.collect()
        t0 = time.perf_counter()
        with trace(values=values) as last:
            step(model, loss_fn)
        last.forward, last.backward, last.tensors, last.warnings  # noqa: B018 (a user's read)
        read.append(time.perf_counter() - t0)
        kept = last
    p, t, r = statistics.median(plain), statistics.median(traced), statistics.median(read)
    assert kept is not None
    t0 = time.perf_counter()
    kept._repr_mimebundle_()  # the notebook's default view: warnings, tables, graph SVG
    view = time.perf_counter() - t0
    return {"plain_ms": p * 1e3, "tool_ms": t * 1e3, "ratio": t / p, "read_ms": r * 1e3,
            "read_ratio": r / p,
            "ops": len(kept.steps), "backward_steps": len(kept.backward_steps),
            "trace_mib": len(pickle.dumps(kept)) / 2**20, "view_s": view}


def measure_peer(tool: str, name: str, repeat: int) -> dict[str, float] | None:
    """torchviz or torchlens, timed the same way, or None when not installed."""
    model, x, y = build(name)
    loss_fn = loss_of(model, x, y)
    if tool == "torchviz":
        try:
            from torchviz import make_dot
        except ImportError:
            return None

        def run() -> None:
            model.zero_grad(set_to_none=True)
            loss = loss_fn()
            make_dot(loss, params=dict(model.named_parameters()))
            loss.backward()
    else:
        try:
            import torchlens
            from torchlens.options import CaptureOptions
        except ImportError:
            return None

        def run() -> None:  # torchlens >= 2: every layer's value and gradient
            model.zero_grad(set_to_none=True)
            log = torchlens.trace(model, x, capture=CaptureOptions(save_grads=True))
            (output,) = log.output_layers
            F.cross_entropy(log[output].out, y).backward()
            log.cleanup()

    plain, timed = [], []
    for _ in range(2):
        step(model, loss_fn), run()
    for _ in range(repeat):
        t0 = time.perf_counter()
        step(model, loss_fn)
        plain.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        run()
        timed.append(time.perf_counter() - t0)
    p, t = statistics.median(plain), statistics.median(timed)
    return {"plain_ms": p * 1e3, "tool_ms": t * 1e3, "ratio": t / p}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--repeat", type=int, default=25)
    parser.add_argument("--peers", action="store_true", help="also time torchviz and torchlens")
    parser.add_argument("--values", default="summary", choices=("summary", "full", "none"),
                        help="gradtrace's values= option (default: summary)")
    parser.add_argument("--name-models", action="store_true",
                        help="with --against: both sides name the variables of models.py")
    parser.add_argument("--against", metavar="REV",
                        help="compare with gradtrace at this git revision, in one process")
    parser.add_argument("--processes", type=int, default=1,
                        help="with --against: measure in this many processes per model")
    parser.add_argument("--worker", nargs=2, metavar=("TOOL", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.worker:
        tool, name = args.worker
        result = (measure_gradtrace(name, args.repeat, args.values) if tool == "gradtrace"
                  else measure_against(name, args.repeat, args.values, args.name_models)
                  if tool == "against"
                  else measure_peer(tool, name, args.repeat))
        print(json.dumps(result))
        return
    if args.against:
        compare(args.against, args.models.split(","), args.repeat, args.values,
                args.name_models, args.processes)
        return
    tools = ["gradtrace"] + (["torchviz", "torchlens"] if args.peers else [])
    print(f"torch {torch.__version__}, 1 thread, median of {args.repeat}; "
          "ratio = traced / plain forward+backward in the same process"
          + (f"; values={args.values!r}" if args.values != "summary" else ""))
    print(f"{'model':<12} {'tool':<10} {'plain ms':>9} {'tool ms':>9} {'ratio':>6} "
          f"{'+read ms':>9} {'ratio':>6} {'ops':>6} {'bwd steps':>9} {'trace MiB':>9} "
          f"{'view s':>7}")
    for name in args.models.split(","):
        ratios: dict[str, float] = {}
        for tool in tools:
            out = subprocess.run([sys.executable, __file__, "--repeat", str(args.repeat),
                                  "--values", args.values, "--worker", tool, name],
                                 capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{name:<12} {tool:<10} failed: {out.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            if r is None:
                print(f"{name:<12} {tool:<10} not installed")
                continue
            ratios[tool] = r.get("read_ratio", r["ratio"])
            extra = (f"{r['read_ms']:>9.2f} {r['read_ratio']:>6.2f} {r['ops']:>6} "
                     f"{r['backward_steps']:>9} {r['trace_mib']:>9.2f} {r['view_s']:>7.2f}"
                     if "ops" in r else "")
            print(f"{name:<12} {tool:<10} {r['plain_ms']:>9.2f} {r['tool_ms']:>9.2f} "
                  f"{r['ratio']:>6.2f} {extra}", flush=True)
        if "gradtrace" in ratios and "torchlens" in ratios:
            print(f"{name:<12} gradtrace is {ratios['torchlens'] / ratios['gradtrace']:.1f}x "
                  "faster than torchlens (record + read, ratio over ratio)", flush=True)


def measure_against(name: str, repeat: int, values: str,
                    name_models: bool = False) -> dict[str, float]:
    """Plain, then ``gradtrace_then`` (another revision's package) and ``gradtrace``, recorded
    and recorded + read, interleaved step by step in one process, the order turning each round;
    ``name_models``: both sides trace ``models.py`` as well as this file."""
    import gradtrace_then
    import models

    import gradtrace

    model, x, y = build(name)
    loss_fn = loss_of(model, x, y)
    sides = {"then": gradtrace_then.trace, "now": gradtrace.trace}
    files = {"files": [__file__, models.__file__]} if name_models else {}

    def recorded(side: str) -> None:
        with sides[side](values=values, **files) as t:
            step(model, loss_fn)
        t.records  # noqa: B018

    def read(side: str) -> None:
        with sides[side](values=values, **files) as t:
            step(model, loss_fn)
        t.forward, t.backward, t.tensors, t.warnings  # noqa: B018

    runs: list[tuple[str, Callable[[], None]]] = [("plain", lambda: step(model, loss_fn))]
    for side in sides:
        runs += [(f"record_{side}", lambda s=side: recorded(s)),  # type: ignore[misc]
                 (f"read_{side}", lambda s=side: read(s))]  # type: ignore[misc]
    for _, run in runs * 2:
        run()
    times: dict[str, list[float]] = {key: [] for key, _ in runs}
    for i in range(repeat):
        for key, run in runs[i % len(runs):] + runs[:i % len(runs)]:
            gc.collect()
            t0 = time.process_time()
            run()
            times[key].append(time.process_time() - t0)
    med = {key: statistics.median(v) for key, v in times.items()}
    out = {key: med[key] / med["plain"] for key in med if key != "plain"}
    for kind in ("record", "read"):  # each round's now over then: both saw the same machine
        paired = [b / a for a, b in zip(times[f"{kind}_then"], times[f"{kind}_now"])]
        out[f"{kind}_change"] = statistics.median(paired) - 1
        out[f"{kind}_low"], out[f"{kind}_high"] = interval(paired)
    return out


def interval(paired: list[float], draws: int = 2000, level: float = 0.9) -> tuple[float, float]:
    """A bootstrap interval of the median of ``paired`` (seeded): the change the noise of
    these rounds allows. Zero inside it: no change this run can tell from noise."""
    rng = random.Random(0)
    medians = sorted(statistics.median(rng.choices(paired, k=len(paired)))
                     for _ in range(draws))
    tail = int(draws * (1 - level) / 2)
    return medians[tail] - 1, medians[-tail - 1] - 1


def _package_as(source: str, folder: str, name: str) -> None:
    """Copy the package ``gradtrace`` at ``source`` into ``folder`` as package ``name``: its
    imports of itself renamed, so that both can be imported into one process."""
    target = os.path.join(folder, name)
    shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
    itself = re.compile(r"\b(from|import) gradtrace\b|(?<=\")gradtrace(?=\.)")
    for path in glob.glob(os.path.join(target, "**", "*.py"), recursive=True):
        with open(path) as f:
            text = f.read()
        with open(path, "w") as f:
            f.write(itself.sub(lambda m: m.group(0).replace("gradtrace", name), text))


def compare(rev: str, models: list[str], repeat: int, values: str,
            name_models: bool = False, processes: int = 1) -> None:
    """This checkout against ``rev``, ``processes`` processes per model: median ratios of record
    and record + read, and their change."""
    with tempfile.TemporaryDirectory() as scratch:
        _package_as(unpack(rev, os.path.join(scratch, "then")), scratch, "gradtrace_then")
        # this checkout as it is now: edits made while this runs are not measured
        shutil.copytree(os.path.join(ROOT, "gradtrace"), os.path.join(scratch, "gradtrace"),
                        ignore=shutil.ignore_patterns("__pycache__"))
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            [scratch, *filter(None, [os.environ.get("PYTHONPATH")])]))
        print(f"torch {torch.__version__}, 1 thread, median of {repeat}, {rev} and this checkout "
              "interleaved step by step in one process, CPU time; ratio = traced / plain"
              + ("; both sides name models.py's variables" if name_models else ""))
        if processes == 1:
            print("change: median of each round's now / then; [low, high]: its 90% bootstrap "
                  "interval")
        else:
            print(f"{processes} processes per model; ratios: median over processes; change: "
                  "median over processes of each one's median of each round's now / then; "
                  "[low, high]: the least and greatest process's")
        print(f"{'model':<12} {'record ' + rev[:10]:>18} {'record now':>11} {'change':>7} "
              f"{'[low, high]':>16} {'+read ' + rev[:10]:>18} {'+read now':>10} {'change':>7} "
              f"{'[low, high]':>16}")
        for name in models:
            runs = []
            for _ in range(processes):
                out = subprocess.run([sys.executable, __file__, "--repeat", str(repeat),
                                      "--values", values, "--worker", "against", name,
                                      *(["--name-models"] if name_models else [])],
                                     capture_output=True, text=True, env=env)
                if out.returncode != 0:
                    raise SystemExit(f"{name}: the measurement failed:\n{out.stderr}")
                runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            cells = []
            for kind in ("record", "read"):
                changes = [r[f"{kind}_change"] for r in runs]
                low, high = ((runs[0][f"{kind}_low"], runs[0][f"{kind}_high"]) if processes == 1
                             else (min(changes), max(changes)))
                cells.append(f"{statistics.median(r[f'{kind}_then'] for r in runs):>18.2f} "
                             f"{statistics.median(r[f'{kind}_now'] for r in runs):>11.2f} "
                             f"{statistics.median(changes):>+7.1%} "
                             f"{f'[{low:+.1%}, {high:+.1%}]':>16}")
            print(f"{name:<12} {cells[0]} {cells[1]}", flush=True)


if __name__ == "__main__":
    main()
