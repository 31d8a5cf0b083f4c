"""What reading ``t.warnings`` costs on a big trace: the 3,158-op transformer of ``models.py``.

Usage::

    python benchmarks/warnings_cost.py            # median of 15 first reads
    python benchmarks/warnings_cost.py --repeat 5

Each run traces the step ``overhead.py`` times (``zero_grad``, forward, backward), builds the
Trace's records untimed, then times the first read of ``t.warnings``: every rule over the whole
trace, as a user's first look pays it. One thread, median of ``--repeat``.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import torch
import torch.nn.functional as F
from models import build

from gradtrace import trace


def once() -> tuple[float, int, list[str]]:
    model, x, y = build("transformer")
    with trace() as t:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
    _ = t.steps, t.backward_steps  # built before the clock starts
    gc.collect()
    start = time.perf_counter()
    found = t.warnings
    return time.perf_counter() - start, len(t.steps), [w.kind for w in found]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    torch.set_num_threads(1)
    runs = [once() for _ in range(args.repeat)]
    ms = statistics.median(r[0] for r in runs) * 1000
    print(f"torch {torch.__version__}, 1 thread: t.warnings on the transformer trace "
          f"({runs[0][1]} forward steps): median {ms:.1f} ms of {args.repeat} "
          f"(min {min(r[0] for r in runs) * 1000:.1f}, max {max(r[0] for r in runs) * 1000:.1f}); "
          f"warnings: {runs[0][2]}")


if __name__ == "__main__":
    main()
