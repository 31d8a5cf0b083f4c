"""Memory a trace keeps: the pickled size of one Trace, and the growth of the process's resident
memory over many traced steps (each Trace dropped, as a loop that keeps only the last one does).

Usage::

    python benchmarks/memory.py                  # the MLP, 1,000 traced steps
    python benchmarks/memory.py --model cnn --steps 200
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle

import torch
import torch.nn.functional as F
from models import MODELS, build

from gradtrace import trace


def rss_mib() -> float:
    """Resident memory of this process, from /proc (Linux)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mlp", choices=MODELS)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    model, x, y = build(args.model)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)

    def step() -> object:
        with trace() as t:
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        t.forward, t.backward, t.tensors, t.warnings  # noqa: B018 (read, as a user would)
        return t

    kept = None
    for _ in range(args.warmup):
        kept = step()
    gc.collect()
    start = rss_mib()
    for i in range(args.steps):
        kept = step()
        if (i + 1) % max(args.steps // 10, 1) == 0:
            print(f"  {i + 1:>5} steps: RSS {rss_mib() - start:+.1f} MiB", flush=True)
    gc.collect()
    grown = rss_mib() - start
    size = len(pickle.dumps(kept)) / 2**20
    print(f"{args.model}: one kept Trace {size:.2f} MiB (pickled); RSS grew {grown:+.1f} MiB "
          f"over {args.steps} traced steps after {args.warmup} warm-up steps")


if __name__ == "__main__":
    main()
