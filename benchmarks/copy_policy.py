"""What keeping the newest values costs: the trace's copy policy against the one it replaced,
in one process.

Usage::

    python benchmarks/copy_policy.py                     # the transformer, 15 rounds
    python benchmarks/copy_policy.py --models mlp,transformer --repeat 21
    python benchmarks/copy_policy.py --makemore 5        # makemore part 3 in IPython, 5 iterations

A trace copies small tensors whole up to a budget of 2**20 elements. Past it, the policy of
``gradtrace`` today (NOTE [what users read is kept] in ``gradtrace/capture/keeper.py``) goes on
copying every new small tensor and summarises the oldest copies to make room, so that what the
traced code ends with (the last iteration, the last layers' gradients) can be read back whole.
The policy it replaced, rebuilt here as ``OldestFirst``, held each later small tensor as an alias
of the traced code's own memory and summarised it in a batch soon after, one summary per block
of memory: the first tensors of a trace stayed whole, the last ones did not.

Rounds run a step recorded and built (``t.records``), then read as a user first reads it
(``t.forward``, ``t.backward``, ``t.tensors``, ``t.warnings``), under each policy, their order
turning, timed in CPU time; it prints each policy's medians, recorded and recorded + read, the
median of each round's change with a 90% bootstrap interval, and what each lets a user read back
whole by name: of the named tensors whose latest version has at most 4,096 elements, how many
``t.value(name)`` and ``t.grad(name)`` return.
``--makemore N`` does the same for makemore part 3's deep network (its classes in one cell, its
training loop of ``N`` iterations under ``%%gradtrace`` in another, in IPython), the case the
newest-first policy was made for, and counts the parameters whose value and ``.grad`` at the end
``tr.value(path)`` and ``tr.grad(path)`` give equal to torch's.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import math
import statistics
import time

import torch
import torch.nn.functional as F
from models import build
from overhead import interval

import gradtrace
from gradtrace.capture import keeper, recorder
from gradtrace.model.errors import TraceLookupError


class OldestFirst(keeper.Keeper):
    """The keeper as it was before newest-first copies: once the budget is spent, a small tensor
    is held as an alias (shared by every view of the same memory at the same version) and
    summarised with others once 64K elements wait."""

    def _copy(self, t: torch.Tensor, passing: bool = False) -> int:
        if self._budget is None or t.numel() <= self._budget:
            return super()._copy(t, passing)
        key = keeper._key(t)
        held = self._held.get(key) if key is not None else None
        if held is not None and held[1] is not None and held[1]() is not None:
            if keeper._shape(self._items[held[0]]) == tuple(t.shape):
                return held[0]
            return self._append(keeper.Alias(held[0], tuple(t.shape)))
        index = self._append(keeper.Held(t.detach(), t._version))
        self._pending.append(index)
        self._pending_size += t.numel()
        if self._pending_size >= keeper._BATCH_SIZE:
            self._summarise_pending()
        if key is not None:
            self._held[key] = (index, keeper._memory_ref(t))
        return index


POLICIES: dict[str, type[keeper.Keeper]] = {"newest first": keeper.Keeper,
                                            "oldest first": OldestFirst}


def readable(t: gradtrace.Trace) -> tuple[int, int, int]:
    """Of the named tensors whose latest version has at most 4,096 elements (what a user reads
    by name): how many there are, and how many ``t.value(name)`` and ``t.grad(name)`` read back
    whole rather than raising that only a summary was kept."""
    latest = {s.name: s for s in t.records.steps if s.named}
    names = [n for n, s in latest.items() if math.prod(s.value.shape) <= 4096]
    values = grads = 0
    for name in names:
        for read in ("value", "grad"):
            try:
                getattr(t, read)(name)
            except TraceLookupError:
                continue
            values, grads = (values + 1, grads) if read == "value" else (values, grads + 1)
    return len(names), values, grads


def measure(name: str, repeat: int) -> None:
    model, x, y = build(name)

    def traced() -> gradtrace.Trace:
        with gradtrace.trace() as t:
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
        t.records  # noqa: B018 (built)
        return t

    # (policy, "record" or "read") -> CPU seconds of each round
    times: dict[tuple[str, str], list[float]] = {}
    kept: dict[str, tuple[int, int, int]] = {}
    order = list(POLICIES)
    try:
        for policy, cls in POLICIES.items():  # warm up; what each keeps
            recorder.Keeper = cls  # type: ignore[misc]
            kept[policy] = readable(traced())
        for i in range(repeat):
            for policy in order[i % 2:] + order[:i % 2]:
                recorder.Keeper = POLICIES[policy]  # type: ignore[misc]
                gc.collect()
                started = time.process_time()
                t = traced()
                recorded = time.process_time() - started
                t.forward, t.backward, t.tensors, t.warnings  # noqa: B018 (a user's first read)
                times.setdefault((policy, "record"), []).append(recorded)
                times.setdefault((policy, "read"), []).append(time.process_time() - started)
    finally:
        recorder.Keeper = keeper.Keeper  # type: ignore[misc]
    for policy in POLICIES:
        names, values, grads = kept[policy]
        print(f"{name:<12} {policy:<13} "
              f"{statistics.median(times[policy, 'record']) * 1e3:>9.1f} ms recorded, "
              f"{statistics.median(times[policy, 'read']) * 1e3:>9.1f} ms recorded + read  "
              f"of {names} named tensors' latest versions, read back whole: {values} values, "
              f"{grads} gradients", flush=True)
    changes = []
    for kind in ("record", "read"):
        paired = [new / old for old, new in zip(times["oldest first", kind],
                                                times["newest first", kind])]
        low, high = interval(paired)
        changes.append(f"{statistics.median(paired) - 1:+.1%} [{low:+.1%}, {high:+.1%}]")
    print(f"{name:<12} newest first costs {changes[0]} recorded, {changes[1]} recorded + read",
          flush=True)


def measure_makemore(steps: int, repeat: int) -> None:
    """Both policies on makemore part 3's loop of ``steps`` iterations, traced in IPython."""
    from long_loop import kernel, makemore_deep, traced_loop

    ip = kernel()

    def traced() -> tuple[float, int]:
        seconds, tr, params = traced_loop(ip, steps, time.process_time)
        equal = 0
        for path, p in zip(makemore_deep.PATHS, params):
            with contextlib.suppress(TraceLookupError):  # only a summary was kept
                equal += torch.equal(tr.grad(path), p.grad) and torch.equal(tr.value(path), p)
        return seconds, equal

    times: dict[str, list[float]] = {policy: [] for policy in POLICIES}
    equal: dict[str, int] = {}
    order = list(POLICIES)
    try:
        for i in range(repeat + 1):  # the first round warms up
            for policy in order[i % 2:] + order[:i % 2]:
                recorder.Keeper = POLICIES[policy]  # type: ignore[misc]
                gc.collect()
                seconds, equal[policy] = traced()
                if i:
                    times[policy].append(seconds)
    finally:
        recorder.Keeper = keeper.Keeper  # type: ignore[misc]
    paired = [new / old for old, new in zip(times["oldest first"], times["newest first"])]
    low, high = interval(paired)
    for policy in POLICIES:
        print(f"makemore part 3, {steps} iterations, {policy:<13} "
              f"{statistics.median(times[policy]):>6.2f} s  value and .grad equal to torch's "
              f"for {equal[policy]} of {len(makemore_deep.PATHS)} parameters", flush=True)
    print(f"makemore part 3, {steps} iterations: newest first costs "
          f"{statistics.median(paired) - 1:+.1%} [{low:+.1%}, {high:+.1%}] of the traced cell",
          flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="transformer")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--makemore", type=int, default=0, metavar="N",
                        help="measure makemore part 3's loop of N iterations instead")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.makemore:
        print(f"torch {torch.__version__}, 1 thread, CPU time, {args.repeat} rounds; the traced "
              "cell, its warnings shown")
        measure_makemore(args.makemore, args.repeat)
        return
    print(f"torch {torch.__version__}, 1 thread, CPU time, {args.repeat} rounds; recorded and "
          "built (t.records), then read")
    for name in args.models.split(","):
        measure(name, args.repeat)


if __name__ == "__main__":
    main()
