"""Graph build and render time for traces of 10 to 5,000 ops, with and without collapsing.

Run from the repository root::

    python benchmarks/graph.py                 # sizes 10 100 1000 5000, the Graphviz found
    python benchmarks/graph.py --sizes 10 100 --binary graphviz-pure --timeout 30

Two kinds of trace: ``chain`` (a loop of ``sin`` and ``mul`` outside any module: collapsing can
only leave out early steps) and ``mlp`` (an ``nn.Sequential`` of Linear+ReLU layers: modules
collapse). "build" is ``Trace.graph(...).source`` (graph model + DOT text); "render" is Graphviz
laying it out as SVG. "default" uses the defaults (collapse past 300 nodes); "full" draws every
op (``collapse=False, max_nodes=None``). Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch

from gradtrace import Trace, trace
from gradtrace.views import pictures
from gradtrace.views.pictures import PictureError, find_binary, render


def chain(ops: int) -> Trace:
    """``ops`` forward ops in a loop, then one backward pass."""
    with trace(show=False) as t:
        x = torch.tensor([0.5], requires_grad=True)
        h = x
        for _ in range(max(ops - 2, 2) // 2):
            h = torch.sin(h)
            h = h * 1.01
        loss = h.sum()
        loss.backward()
    return t


def mlp(ops: int) -> Trace:
    """An nn.Sequential of Linear+ReLU layers with about ``ops`` steps, then one backward."""
    layers = max(ops // 4, 1)  # weight, bias, linear, relu per layer
    net = torch.nn.Sequential(*[m for _ in range(layers)
                                for m in (torch.nn.Linear(8, 8), torch.nn.ReLU())])
    x = torch.randn(4, 8)
    with trace(show=False) as t:
        loss = net(x).sum()
        loss.backward()
    return t


def measure(t: Trace, binary: str | None, timeout: float, **options: object) -> str:
    t.warnings  # noqa: B018  (the diagnostics are the report's cost, not the graph's)
    built = float("inf")
    for _ in range(3):  # best of three: the first call also imports graphviz
        start = time.perf_counter()
        source = t.graph(**options).source
        built = min(built, time.perf_counter() - start)
    nodes = source.count("label=<")
    if binary is None:
        return f"{nodes:>6} nodes  build {built * 1e3:8.1f} ms  render: no Graphviz"
    pictures._run.cache_clear()  # time the layout, not gradtrace's cache of pictures
    start = time.perf_counter()
    try:
        render(source, "svg", binary=binary, timeout=timeout)
        drawn = f"{(time.perf_counter() - start) * 1e3:9.1f} ms"
    except PictureError as exc:
        drawn = "timed out" if "took more than" in str(exc) else f"failed ({exc})"
        drawn = f"{drawn} (>{timeout:g} s)" if drawn == "timed out" else drawn
    return f"{nodes:>6} nodes  build {built * 1e3:8.1f} ms  render {drawn}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000, 5000])
    parser.add_argument("--binary", help="Graphviz program (default: the one gradtrace finds)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per render")
    parser.add_argument("--kinds", nargs="+", default=["chain", "mlp"])
    args = parser.parse_args()
    binary = shutil.which(args.binary) if args.binary else find_binary()
    print(f"Graphviz: {binary or 'none found'}; torch {torch.__version__}")
    for kind in args.kinds:
        for size in args.sizes:
            t = chain(size) if kind == "chain" else mlp(size)
            for label, options in (("default", {}),
                                   ("full", {"collapse": False, "max_nodes": None})):
                result = measure(t, binary, args.timeout, **options)
                print(f"{kind:5} {len(t.steps):>5} steps  {label:7} {result}", flush=True)


if __name__ == "__main__":
    main()
