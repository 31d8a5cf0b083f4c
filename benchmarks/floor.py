"""The least tracing can cost: the capture mechanism alone, and the statistics alone.

Usage::

    python benchmarks/floor.py                # mlp, cnn, transformer, encoder
    python benchmarks/floor.py --models mlp --repeat 50

"mode + hooks" runs each model's training step under a ``TorchFunctionMode`` that notes each
op and hooks each new autograd node with a hook that holds what it receives, and nothing else:
no names, values, statistics or records. "statistics" is the time to summarise every tensor
and gradient of one step too big to copy whole (``gradtrace.model.stats.host_stats`` on each, one
after the other), as a fraction of the plain step. gradtrace's own ratio (``overhead.py``) is
above 1 + both by the cost of naming, records and edges.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from typing import Any

import torch
import torch.nn.functional as F
from models import MODELS, build
from torch.overrides import TorchFunctionMode


class BareMode(TorchFunctionMode):
    """Notes each op and hooks each new node; records nothing else."""

    def __init__(self, keep_outputs: bool = False) -> None:
        super().__init__()
        self.ops: list[tuple[Any, int]] = []
        self.handles: list[Any] = []
        self.received: list[Any] = []
        self.outputs: list[torch.Tensor] | None = [] if keep_outputs else None

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        if isinstance(out, torch.Tensor):
            with torch._C.DisableTorchFunction():
                self.ops.append((func, sys._getframe(1).f_lineno))
                if self.outputs is not None:
                    self.outputs.append(out.detach())
                node = out.grad_fn
                if node is not None:
                    self.handles.append(node.register_hook(self._hook))
        return out

    def _hook(self, grad_inputs: Any, grad_outputs: Any) -> None:
        self.received.append((grad_inputs, grad_outputs))


def floor(name: str, repeat: int) -> tuple[float, float, float, int]:
    """Plain ms, the bare mode's ratio, the statistics' ratio, and how many tensors."""
    from gradtrace.capture.summaries import DEFAULT_KEEP_LIMIT
    from gradtrace.model.stats import host_stats

    model, x, y = build(name)

    def step() -> None:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()

    def bare(keep_outputs: bool = False) -> BareMode:
        with BareMode(keep_outputs) as mode:
            step()
        for handle in mode.handles:
            handle.remove()
        return mode

    for _ in range(3):
        step(), bare()
    plain, traced = [], []
    for _ in range(repeat):  # interleaved, as overhead.py does
        gc.collect()
        t0 = time.perf_counter()
        step()
        plain.append(time.perf_counter() - t0)
        gc.collect()
        t0 = time.perf_counter()
        bare()
        traced.append(time.perf_counter() - t0)
    mode = bare(keep_outputs=True)  # every value and gradient of one step, each memory once
    found = [*model.parameters(), *(mode.outputs or [])]
    found += [p.grad for p in model.parameters() if p.grad is not None]
    for grads_in, grads_out in mode.received:
        found += [g for g in (*grads_in, *grads_out) if g is not None]
    # those a trace summarises; smaller ones it copies whole
    tensors = [t for t in {t.data_ptr(): t for t in found}.values()
               if t.numel() > DEFAULT_KEEP_LIMIT]
    summarising = []
    with torch.no_grad():
        for _ in range(repeat):
            t0 = time.perf_counter()
            for t in tensors:
                host_stats(t)
            summarising.append(time.perf_counter() - t0)
    p = statistics.median(plain)
    return p * 1e3, statistics.median(traced) / p, statistics.median(summarising) / p, len(tensors)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--repeat", type=int, default=25)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, 1 thread, median of {args.repeat}")
    print(f"{'model':<12} {'plain ms':>9} {'mode + hooks':>13} {'statistics':>11} {'tensors':>8}")
    for name in args.models.split(","):
        plain, bare, stats, count = floor(name, args.repeat)
        print(f"{name:<12} {plain:>9.2f} {bare:>12.2f}x {stats:>10.2f}x {count:>8}", flush=True)


if __name__ == "__main__":
    main()
