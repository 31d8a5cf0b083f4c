"""What ``gradtrace.watch`` costs a training loop: plain and watched runs interleaved, and the
growth of resident memory over a long watched run.

Usage::

    python benchmarks/watch.py                          # MLP and transformer, every=100 and 10
    python benchmarks/watch.py --models mlp --steps 200 --repeats 5
    python benchmarks/watch.py --rss-steps 10000        # memory only: the cell model, every=10
    python benchmarks/watch.py --phases                 # one sampled iteration, split in parts
    python benchmarks/watch.py --floor                  # the least a sampled iteration could cost
    python benchmarks/watch.py --one-sample 30          # what one sample adds, counted in-process

The whole loop is timed (forward, backward, optimizer step), sampled iterations included:
``every=100`` over 100 steps traces one iteration in the run, ``every=10`` ten. Times are the
process's CPU time (``time.process_time``; torch runs one thread), so work elsewhere on a shared
machine slows a run less than it does the wall clock; each round runs plain and watched, plain
first in one round and last in the next, and the figure is the median ratio of the rounds.
``--values summary`` watches with sampled Traces that keep each tensor's statistics
(``watch(values="summary")``); the history is the same.
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
from torch.overrides import TorchFunctionMode

import gradtrace
from gradtrace.watching.watcher import SAMPLE_VALUES


def train(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int,
          every: int | None, values: str = SAMPLE_VALUES) -> float:
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
    for round_ in range(repeats):
        # plain first, then last: a machine whose speed drifts through a round biases the
        # two halves of the rounds in opposite directions
        runs: list[int | None] = [None, *everies]
        times = {every: train(model, x, y, steps, every, values)
                 for every in (runs if round_ % 2 == 0 else runs[::-1])}
        plain = times[None]
        for every in everies:
            found[every].append(times[every] / plain)
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
    model, x, y = build(name)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    step = functools.partial(_loop, model, opt, x, y, 1)
    traced = functools.partial(_bare_trace, step, values)
    timed = functools.partial(_median_ms, repeats=repeats)

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


def _bare_trace(step: Callable[[], None], values: str) -> None:
    """``step`` traced by a bare Recorder (the trace a sample holds), its Trace made."""
    from gradtrace.capture.recorder import Recorder

    recorder = Recorder([__file__], retain_grad=False, values=values)
    recorder.start()
    try:
        step()
    finally:
        build_records = recorder.stop(None)
    gradtrace.Trace.later(build_records)


def _median_ms(run: Callable[[], None], repeats: int) -> float:
    """The median CPU milliseconds of ``repeats`` calls of ``run``."""
    found = []
    for _ in range(repeats):
        started = time.process_time()
        run()
        found.append(time.process_time() - started)
    return statistics.median(found) * 1e3


def floor(name: str, repeats: int, values: str) -> None:
    """The least a sampled iteration could cost, in CPU ms (medians of ``repeats``): the trace
    a sample holds (a bare Recorder, as in ``--phases``) plus the statistics a sample reports
    taken by torch alone, one call per tensor and statistic, nothing of gradtrace around them:
    for each parameter a copy (the update is measured against one), the mean and ``torch.std``
    of it and of its gradient, then the update's and the new value's ``std``; for each module
    output and each tanh, sigmoid, ReLU or GELU output (what a watch calls an activation) the
    mean and std of it and of its gradient, and a ReLU's dead units; and the histograms of the
    figure's curves. From these, the least ``every=10`` and ``every=100`` could cost."""
    from gradtrace.watching.figure import MOST_CURVES
    from gradtrace.watching.stats import BINS, HISTOGRAM_ELEMENTS

    model, x, y = build(name)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    step = functools.partial(_loop, model, opt, x, y, 1)
    made: dict[int, tuple[torch.Tensor, bool]] = {}  # the activations, once each: is a ReLU's

    def keep(t: Any, relu: bool) -> None:
        if isinstance(t, torch.Tensor) and t.is_floating_point() and id(t) not in made:
            made[id(t)] = (t, relu)

    class Functions(TorchFunctionMode):
        def __torch_function__(self, func: Any, types: Any, args: Any = (),
                               kwargs: Any = None) -> Any:
            out = func(*args, **(kwargs or {}))
            if getattr(func, "__name__", "").rstrip("_") in ("tanh", "sigmoid", "relu", "gelu"):
                keep(out, func.__name__.startswith("relu"))
            return out

    hooks = [m.register_forward_hook(
        lambda m, i, o: keep(o, isinstance(m, torch.nn.ReLU))) for m in model.modules()]
    opt.zero_grad()
    with Functions():
        loss = F.cross_entropy(model(x), y)
    for h in hooks:
        h.remove()
    for t, _ in made.values():
        t.retain_grad()
    loss.backward()
    acts = [(t.detach(), t.grad, relu) for t, relu in made.values()]
    params = list(model.parameters())

    def statistics_alone() -> None:
        with torch.no_grad():
            copies = [p.detach().clone() for p in params]
            for t in (*params, *(p.grad for p in params)):
                t.mean(), t.std()
            for t, g, relu in acts:
                t.mean(), t.std()
                if g is not None:
                    g.mean(), g.std()
                if relu:
                    (t.reshape(t.shape[0], -1).abs().amax(0) == 0).float().mean()
            for t in [t for t, _, _ in acts][:MOST_CURVES] + [
                    p.grad for p in params if p.dim() == 2][:MOST_CURVES]:
                flat = t.reshape(-1)
                torch.histc(flat[:: max(flat.numel() // HISTOGRAM_ELEMENTS, 1)], BINS)
            for p, before in zip(params, copies):
                (p - before).std(), p.std()

    traced = functools.partial(_bare_trace, step, values)
    timed = functools.partial(_median_ms, repeats=repeats)
    for _ in range(3):
        step()
        traced()
        statistics_alone()
    plain, trace, alone = timed(step), timed(traced), timed(statistics_alone)
    least = trace + alone
    print(f"{name}: plain {plain:.2f} ms, traced by a bare Recorder {trace:.2f} ms, the "
          f"statistics by torch alone {alone:.2f} ms ({len(params)} parameters, {len(acts)} "
          f"activations): a sampled iteration at least {least:.2f} ms "
          f"({least / plain:.2f}x plain)")
    for every in (10, 100):
        print(f"  every={every}: at least {(every - 1 + least / plain) / every:.3f}x")


def one_sample(name: str, steps: int, repeats: int, values: str) -> None:
    """What one sample adds to a run, counted in one process: ``steps`` iterations plain and
    under ``watch(every=steps)`` (entering it, the sampled iteration 0, the rest, leaving it),
    alternately ``repeats`` times each; the median extra CPU time, in plain iterations, and the
    ratio it makes over ``steps`` and over 100 steps. Less spread than whole runs measured
    apart, on a machine whose speed drifts from one minute to the next."""
    model, x, y = build(name)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    for _ in range(3):
        _loop(model, opt, x, y, 1)
    extra, plains = [], []
    for _ in range(repeats):
        plain = train(model, x, y, steps, None)
        watched = train(model, x, y, steps, steps, values)
        extra.append(watched - plain)
        plains.append(plain / steps)
    more, each = statistics.median(extra), statistics.median(plains)
    print(f"{name}: plain {each * 1e3:.2f} ms/step; a watch at every={steps} over {steps} "
          f"steps added {more * 1e3:.1f} ms (median of {repeats}; "
          f"{min(extra) * 1e3:.1f} to {max(extra) * 1e3:.1f}), {more / each:.2f} plain "
          f"iterations: {1 + more / each / steps:.3f}x over {steps} steps, "
          f"{1 + more / each / 100:.3f}x over 100")


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
    parser.add_argument("--values", default=SAMPLE_VALUES, choices=("summary", "full", "none"),
                        help="what each sampled Trace keeps (watch's values=; default "
                             f"{SAMPLE_VALUES!r}, the watch's own)")
    parser.add_argument("--rss-steps", type=int, default=0,
                        help="only measure memory, over this many steps (10,000 in the README)")
    parser.add_argument("--rss-model", default="cell")
    parser.add_argument("--phases", action="store_true",
                        help="one sampled iteration split in parts (medians of --repeats)")
    parser.add_argument("--one-sample", type=int, default=0, metavar="STEPS",
                        help="what one sample adds to STEPS iterations, plain and watched "
                             "alternately in one process (--repeats times each)")
    parser.add_argument("--floor", action="store_true",
                        help="the least a sampled iteration could cost: its trace and the "
                             "statistics taken by torch alone (medians of --repeats)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    per_iteration = {"one_sample": lambda name: one_sample(name, args.one_sample, args.repeats,
                                                          args.values),
                     "floor": lambda name: floor(name, args.repeats, args.values),
                     "phases": lambda name: phases(name, args.repeats, args.values)}
    for mode, run in per_iteration.items():
        if getattr(args, mode):
            print(f"CPU time (time.process_time), {args.threads} torch thread(s), medians of "
                  f"{args.repeats}, values={args.values!r}")
            for name in args.models.split(","):
                run(name)
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
