"""Where a traced training step's time goes, in measured parts that add up to the whole.

Usage::

    python benchmarks/breakdown.py                  # mlp, cnn, cell, transformer
    python benchmarks/breakdown.py --models mlp --repeat 50

Each model's step runs, interleaved in one process (one thread, median of ``--repeat``):

- plain: the step itself;
- floor: under the bare capture of ``floor.py`` (a ``TorchFunctionMode`` that notes each op, one
  hook per autograd node): what seeing every op and node costs before anything is recorded;
- records: under ``trace(values="none")``, the block alone: names, lines, versions, the graph's
  edges and the backward rows, without values;
- values: ``trace()`` (values="summary") less ``values="none"``, the block alone: copies of
  small tensors and statistics of big ones;
- build: ``t.records`` after ``trace()``: summaries fetched, records built;
- read: ``t.forward``, ``t.backward``, ``t.tensors``, ``t.warnings`` first read.

Each column is the extra milliseconds over the one before it, so plain + floor + records +
values + build + read is the time a user pays for a step traced and read. A column can be
slightly negative where two medians differ by less than the noise.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from floor import BareMode
from models import build

from gradtrace import Trace, trace


def parts(name: str, repeat: int) -> dict[str, float]:
    model, x, y = build(name)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()

    def bare() -> None:
        with BareMode() as mode:
            step()
        for handle in mode.handles:
            handle.remove()

    times: dict[str, list[float]] = {k: [] for k in
                                     ("plain", "floor", "none", "summary", "build", "read")}

    def timed(key: str, run: Callable[..., Any], *args: Any) -> Any:
        if key not in ("build", "read"):  # those go on from the trace just recorded, as a user's
            gc.collect()
        t0 = time.perf_counter()
        out = run(*args)
        times[key].append(time.perf_counter() - t0)
        return out

    def traced(values: str) -> Trace:
        with trace(values=values) as t:
            step()
        return t

    def build_it(t: Trace) -> None:
        t.records  # noqa: B018

    def read(t: Trace) -> None:
        t.forward, t.backward, t.tensors, t.warnings  # noqa: B018

    for _ in range(3):
        step(), bare(), traced("summary")
    for k in times:
        times[k].clear()
    for _ in range(repeat):
        timed("plain", step)
        timed("floor", bare)
        timed("none", traced, "none")
        t = timed("summary", traced, "summary")
        timed("build", build_it, t)
        timed("read", read, t)
    m = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    return {"plain": m["plain"], "floor": m["floor"] - m["plain"],
            "records": m["none"] - m["floor"], "values": m["summary"] - m["none"],
            "build": m["build"], "read": m["read"],
            "total": m["summary"] + m["build"] + m["read"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="mlp,cnn,cell,transformer")
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, median of {args.repeat}; ms, each column "
          "added to the one before")
    columns = ("plain", "floor", "records", "values", "build", "read", "total")
    print(f"{'model':<12}" + "".join(f"{c:>10}" for c in columns) + f"{'ratio':>8}")
    for name in args.models.split(","):
        p = parts(name, args.repeat)
        print(f"{name:<12}" + "".join(f"{p[c]:>10.2f}" for c in columns)
              + f"{p['total'] / p['plain']:>7.2f}x", flush=True)


if __name__ == "__main__":
    main()
