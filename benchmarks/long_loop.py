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
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.lectures import makemore_deep


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[5, 500])
    args = parser.parse_args(argv)
    from IPython.testing.globalipapp import start_ipython
    from IPython.utils.capture import capture_output

    torch.set_num_threads(1)
    ip = start_ipython()
    ip.run_line_magic("load_ext", "gradtrace")
    print(f"{'iterations':>10} {'steps':>8} {'cell s':>7} {'kept MiB':>9} {'whole':>6}  read back")
    for steps in args.steps:
        ip.run_cell(makemore_deep.CLASSES)  # a fresh network each time
        t0 = time.perf_counter()
        with capture_output():
            result = ip.run_cell("%%gradtrace -o tr --sections warnings\n"
                                 + makemore_deep.loop(steps))
        seconds = time.perf_counter() - t0
        if result.error_in_exec is not None:
            raise result.error_in_exec
        tr, params = ip.user_ns["tr"], ip.user_ns["parameters"]
        size = len(pickle.dumps(tr)) / 2**20
        whole = sum(s.value.values is not None for s in tr.steps)
        same = all(torch.equal(tr.grad(p), q.grad) and torch.equal(tr.value(p), q.detach())
                   for p, q in zip(makemore_deep.PATHS, params))
        print(f"{steps:>10} {len(tr.steps):>8} {seconds:>7.2f} {size:>9.2f} {whole:>6}  "
              f"{'every parameter and .grad equal' if same else 'DIFFERENT'}")


if __name__ == "__main__":
    main()
