"""Fixed cost of tracing and showing the lab's cos·log cell (tables and graph SVG), wall time.

Usage::

    python benchmarks/notebook_cell.py

The first run includes importing the renderers and one Graphviz run; later runs of the same
graph reuse the drawn SVG.
"""

from __future__ import annotations

import statistics
import time

import torch

from gradtrace import trace
from gradtrace.views.html import to_html


def cell() -> str:
    with trace() as t:
        x_1 = torch.tensor([3.0], requires_grad=True)
        x_2 = torch.tensor([2.0], requires_grad=True)
        c = x_1.cos() * x_2.log()
        c.backward()
    return to_html(t)


def main() -> None:
    t0 = time.perf_counter()
    page = cell()
    first = time.perf_counter() - t0
    again = []
    for _ in range(10):
        t0 = time.perf_counter()
        cell()
        again.append(time.perf_counter() - t0)
    print(f"first cell {first * 1e3:.1f} ms (imports and one Graphviz run), then median "
          f"{statistics.median(again) * 1e3:.1f} ms; graph drawn as SVG: {'<svg' in page}")


if __name__ == "__main__":
    main()
