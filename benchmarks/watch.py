"""What ``gradtrace.watch`` costs a training loop: plain and watched runs interleaved, and the
growth of resident memory over a long watched run.

Usage::

    python benchmarks/watch.py                          # MLP and transformer, every=100 and 10
    python benchmarks/watch.py --models mlp --steps 200 --repeats 5
    python benchmarks/watch.py --rss-steps 10000        # memory only: the cell model, every=10

The whole loop is timed (forward, backward, optimizer step), sampled iterations included:
``every=100`` over 100 steps traces one iteration in the run, ``every=10`` ten. Times are the
process's CPU time (``time.process_time``; torch runs one thread), so work elsewhere on a shared
machine slows a run less than it does the wall clock; each round runs plain then watched, and
the figure is the median ratio of the rounds. ``--values none`` watches with sampled Traces that
keep no values (``watch(values="none")``): the history is the same.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import torch
import torch.nn.functional as F
from memory import rss_mib
from models import build

import gradtrace


def train(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int,
          every: int | None, values: str = "summary") -> float:
    """CPU seconds for ``steps`` SGD steps, under a watch of one iteration in ``every`` if
    given."""
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    gc.collect()
    started = time.process_time()
    if every is None:
        _loop(model, opt, x, y, steps)
    else:
        with gradtrace.watch(model, every=every, values=values):
            _loop(model, opt, x, y, steps)
    return time.process_time() - started


def _loop(model: torch.nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor,
          y: torch.Tensor, steps: int) -> None:
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()


def ratios(name: str, steps: int, repeats: int, everies: list[int],
           values: str) -> dict[int, list[float]]:
    """watched / plain in each of ``repeats`` interleaved rounds, for each ``every``."""
    model, x, y = build(name)
    train(model, x, y, 5, None)  # warm up
    train(model, x, y, 2, 1, values)
    found: dict[int, list[float]] = {e: [] for e in everies}
    for _ in range(repeats):
        plain = train(model, x, y, steps, None)
        for every in everies:
            found[every].append(train(model, x, y, steps, every, values) / plain)
        print(f"  {name}: plain {plain / steps * 1e3:.2f} ms/step; " + ", ".join(
            f"every={e} {found[e][-1]:.3f}x" for e in everies), flush=True)
    return found


def rss_growth(name: str, steps: int, every: int) -> float:
    """MiB the process grew from iteration 200 to iteration ``steps`` of one watched run."""
    model, x, y = build(name)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    start = 0.0
    with gradtrace.watch(model, every=every):
        for i in range(steps):
            if i == 200:
                gc.collect()
                start = rss_mib()
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        gc.collect()
        end = rss_mib()
    return end - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="mlp,transformer")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--every", default="100,10")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--values", default="summary", choices=("summary", "full", "none"),
                        help="what each sampled Trace keeps (watch's values=)")
    parser.add_argument("--rss-steps", type=int, default=0,
                        help="only measure memory, over this many steps (10,000 in the README)")
    parser.add_argument("--rss-model", default="cell")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.rss_steps:
        grown = rss_growth(args.rss_model, args.rss_steps, 10)
        print(f"{args.rss_model}: RSS grew {grown:.1f} MiB from iteration 200 to "
              f"{args.rss_steps} at every=10")
        return
    everies = [int(e) for e in args.every.split(",")]
    print(f"CPU time (time.process_time), {args.threads} torch thread(s), median of "
          f"{args.repeats} interleaved rounds of {args.steps} steps, values={args.values!r}")
    for name in args.models.split(","):
        found = ratios(name, args.steps, args.repeats, everies, args.values)
        print(f"{name}: " + ", ".join(
            f"every={e}: {statistics.median(r):.3f}x plain ({min(r):.3f} to {max(r):.3f})"
            for e, r in found.items()), flush=True)


if __name__ == "__main__":
    main()
