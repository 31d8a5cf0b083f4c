"""What a trace keeps over a long training loop: makemore part 3's deep network (hand-written
layer classes in one notebook cell, the loop under ``%%gradtrace`` in another), traced for a few
iterations and for many.

Usage::

    python benchmarks/long_loop.py                      # 5 and 500 iterations
    python benchmarks/long_loop.py --steps 5 50 500

For each count it prints the forward steps recorded, the seconds the traced cell took, the
pickled size of the Trace, how many tensors it kept whole, and whether every parameter's value
and ``.grad`` at the end can be read back equal to torch's.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.lectures import makemore_deep


def kernel() -> Any:
    """An IPython shell in this process with gradtrace's magics loaded."""
    from IPython.testing.globalipapp import start_ipython

    ip = start_ipython()
    ip.run_line_magic("load_ext", "gradtrace")
    return ip


def traced_loop(ip: Any, steps: int, clock: Callable[[], float] = time.perf_counter
                ) -> tuple[float, Any, list[torch.Tensor]]:
    """A fresh part-3 network (its classes' cell), then its loop of ``steps`` iterations under
    ``%%gradtrace -o tr``: the seconds the traced cell took by ``clock``, the Trace and the
    parameters."""
    from IPython.utils.capture import capture_output

    ip.run_cell(makemore_deep.CLASSES)
    started = clock()
    with capture_output():
        result = ip.run_cell("%%gradtrace -o tr --sections warnings\n"
                             + makemore_deep.loop(steps))
    seconds = clock() - started
    if result.error_in_exec is not None:
        raise result.error_in_exec
    return seconds, ip.user_ns["tr"], ip.user_ns["parameters"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[5, 500])
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    ip = kernel()
    print(f"{'iterations':>10} {'steps':>8} {'cell s':>7} {'kept MiB':>9} {'whole':>6}  read back")
    for steps in args.steps:
        seconds, tr, params = traced_loop(ip, steps)
        size = len(pickle.dumps(tr)) / 2**20
        whole = sum(s.value.values is not None for s in tr.steps)
        same = all(torch.equal(tr.grad(p), q.grad) and torch.equal(tr.value(p), q.detach())
                   for p, q in zip(makemore_deep.PATHS, params))
        print(f"{steps:>10} {len(tr.steps):>8} {seconds:>7.2f} {size:>9.2f} {whole:>6}  "
              f"{'every parameter and .grad equal' if same else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
