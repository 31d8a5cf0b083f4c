"""``python -m gradtrace.exercise``: print a random formula to differentiate by hand.

Example:
    >>> _ = main(["--seed", "7"])
    seed 7: y = cos(x_1*x_2) - x_3
      at (x_1, x_2, x_3) = (-3, 4, -3)
    Find the gradient of y with respect to each of x_1, x_2, x_3.
"""

from __future__ import annotations

import argparse
import random

from gradtrace.teaching.exercise import Exercise
from gradtrace.teaching.formulas import random_formula

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """``python -m gradtrace.exercise [--seed N] [--solve]``."""
    parser = argparse.ArgumentParser(prog="python -m gradtrace.exercise",
                                     description="Print a random formula to differentiate by "
                                                 "hand, like the autograd lab's homework.")
    parser.add_argument("--seed", type=int, default=None,
                        help="which formula (the same seed gives the same formula)")
    parser.add_argument("--solve", action="store_true",
                        help="also print the gradients, derived path by path")
    ns = parser.parse_args(argv)
    seed = ns.seed if ns.seed is not None else random.randrange(10_000)
    formula = random_formula(seed)
    print(f"seed {seed}: {formula}")
    print(f"Find the gradient of y with respect to each of "
          f"{', '.join(n for n, _ in formula.values)}.")
    if ns.solve:
        print()
        print(Exercise(formula.trace(), formula=formula).solution())
    return 0

