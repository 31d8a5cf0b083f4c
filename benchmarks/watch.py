"""What ``gradtrace.watch`` costs a training loop: plain and watched runs interleaved, and the
growth of resident memory over a long watched run.

Usage::

    python benchmarks/watch.py                          # MLP and transformer, every=100 and 10
    python benchmarks/watch.py --models mlp --steps 200 --repeats 5
    python benchmarks/watch.py --rss-steps 10000        # memory only: the cell model, every=10
    python benchmarks/watch.py --phases                 # one sampled iteration, split in parts

The whole loop is timed (forward, backward, optimizer step), sampled iterations included:
``every=100`` over 100 steps traces one iteration in the run, ``every=10`` ten. Times are the
process's CPU time (``time.process_time``; torch runs one thread), so work elsewhere on a shared
machine slows a run less than it does the wall clock; each round runs plain then watched, and
the figure is the median ratio of the rounds. ``--values none`` watches with sampled Traces that
keep no values (``watch(values="none")``): the history is the same.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

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


def phases(name: str, repeats: int, values: str) -> None:
    """What one sampled iteration costs, in CPU ms (medians of ``repeats``): the plain
    iteration, the same traced by a bare Recorder (the trace a sample holds: the floor of any
    sampled iteration), a sampled iteration of a watch (``every=1``: the trace, the activation,
    gradient and parameter statistics, the update) and an iteration between samples; the ratios
    ``every=10`` and ``every=100`` would reach if only the sampled iterations cost more; and what
    the watch's own statistics took of a sampled iteration (the mean of the same iterations)."""
    from gradtrace.capture.recorder import Recorder

    model, x, y = build(name)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    step = functools.partial(_loop, model, opt, x, y, 1)
    files = [__file__]

    def traced() -> None:
        recorder = Recorder(files, retain_grad=False, values=values)
        recorder.start()
        try:
            step()
        finally:
            build_records = recorder.stop(None)
        gradtrace.Trace.later(build_records)

    def timed(run: Callable[[], None]) -> float:
        found = []
        for _ in range(repeats):
            started = time.process_time()
            run()
            found.append(time.process_time() - started)
        return statistics.median(found) * 1e3

    for _ in range(3):
        step()
        traced()
    plain, trace = timed(step), timed(traced)
    with gradtrace.watch(model, every=1, values=values):
        step()
        with _parts_timed() as parts:
            sampled = timed(step)
    with gradtrace.watch(model, every=10**9, values=values):  # iteration 0 alone is sampled
        step()
        between = timed(step)
    print(f"{name}: plain {plain:.2f} ms, traced by a bare Recorder {trace:.2f} ms "
          f"({trace / plain:.2f}x), a sampled iteration {sampled:.2f} ms ({sampled / plain:.2f}x), "
          f"an iteration between samples {between:.2f} ms ({between / plain:.3f}x)")
    for every in (10, 100):
        print(f"  every={every}: at least {(every - 1 + trace / plain) / every:.3f}x from the "
              f"trace alone, {(every - 1 + sampled / plain) / every:.3f}x with the statistics")
    print("  of a sampled iteration: " + ", ".join(
        f"{label} {seconds / repeats * 1e3:.2f} ms" for label, seconds in parts.items()))


@contextlib.contextmanager
def _parts_timed() -> Iterator[dict[str, float]]:
    """CPU seconds spent in the watch's own statistics while the block runs: the sample's
    activations and parameters (``Sample``), its parameters alone, and the update measured
    after the optimizer step."""
    from gradtrace.watching import sample, watcher

    parts = {"the sample's statistics": 0.0, "of which parameters and gradients": 0.0,
             "the update": 0.0}
    patched = [(watcher.Watch, "_measure", "the sample's statistics"),
               (sample.Sample, "_parameters", "of which parameters and gradients"),
               (watcher, "resolve_updates", "the update")]
    originals = [getattr(owner, name) for owner, name, _ in patched]

    def timing(original: Callable[..., Any], label: str) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.process_time()
            try:
                return original(*args, **kwargs)
            finally:
                parts[label] += time.process_time() - started
        return timed

    for (owner, name, label), original in zip(patched, originals):
        setattr(owner, name, timing(original, label))
    try:
        yield parts
    finally:
        for (owner, name, _), original in zip(patched, originals):
            setattr(owner, name, original)


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
    parser.add_argument("--phases", action="store_true",
                        help="one sampled iteration split in parts (medians of --repeats)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.phases:
        print(f"CPU time (time.process_time), {args.threads} torch thread(s), medians of "
              f"{args.repeats} iterations, values={args.values!r}")
        for name in args.models.split(","):
            phases(name, args.repeats, args.values)
        return
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
