"""Random formulas in the style of the autograd lab's homework, to differentiate by hand.

``random_formula(seed)`` draws a formula such as ``y = log(exp(x_1*x_2)**2 + sin(x_3+x_4+x_5)*x_5)``
with small integer inputs: random operators (``+ - * /``), functions (``exp``, ``log``,
``sin``, ``cos``, ``tanh``, ``sigmoid``, ``**2``), and often one input used twice, so its
gradient is a sum over two paths. The same seed always gives the same formula; every value and
gradient on it is finite and of moderate size.

Example:
    >>> f = random_formula(7)
    >>> f == random_formula(7), f.text.startswith("y = ")
    (True, True)
    >>> t = f.trace()
    >>> [s.name for s in t.steps][:2]
    ['x_1', 'x_2']
"""

from __future__ import annotations

import linecache
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace
    from gradtrace.teaching.exercise import Exercise

__all__ = ["Formula", "random_formula"]

Node = tuple[Any, ...]  # ("var", name) | ("bin", op, a, b) | ("fn", name, a) | ("sq", a)
_PREC = {"+": 1, "-": 1, "*": 2, "/": 2}
_FUNCS = ("exp", "log", "sin", "cos", "tanh", "sigmoid", "sq")
_MATH: dict[str, Callable[[float], float]] = {
    "exp": math.exp, "log": math.log, "sin": math.sin, "cos": math.cos, "tanh": math.tanh,
    "sigmoid": lambda v: 1 / (1 + math.exp(-v)), "sq": lambda v: v * v}


@dataclass(frozen=True)
class Formula:
    """A formula ``y = ...`` of inputs ``x_1, x_2, ...`` and the values to evaluate it at.

    ``text`` is the formula as the lab writes it; ``source`` a script that computes it with
    PyTorch and calls ``y.backward()``; :meth:`trace` runs that script under gradtrace.
    """

    seed: int
    text: str
    code: str
    values: tuple[tuple[str, float], ...]

    @property
    def source(self) -> str:
        """The script: one ``torch.tensor(..., requires_grad=True)`` per input, y, backward."""
        lines = ["import torch", ""]
        lines += [f"{n} = torch.tensor({v!r}, requires_grad=True)" for n, v in self.values]
        return "\n".join([*lines, f"y = {self.code}", "y.backward()", ""])

    def trace(self) -> Trace:
        """Run :attr:`source` under :func:`gradtrace.trace` and return the Trace."""
        import torch

        from gradtrace.frontends.api import trace

        filename = f"<gradtrace-formula-{self.seed}>"
        source = self.source
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        code = compile(source, filename, "exec")
        with trace(files=[filename]) as t:
            exec(code, {"torch": torch, "__name__": "__gradtrace_formula__"})
        return t

    def exercise(self) -> Exercise:
        """The traced formula as an exercise: gradients hidden until revealed."""
        from gradtrace.teaching.exercise import Exercise

        return Exercise(self.trace(), formula=self)

    def __str__(self) -> str:
        at = ", ".join(f"{v:g}" for _, v in self.values)
        names = ", ".join(n for n, _ in self.values)
        return f"{self.text}\n  at ({names}) = ({at})"


def _show(node: Node, torch_code: bool) -> tuple[str, int]:
    """``node`` as text and its precedence (4: an atom or call)."""
    kind = node[0]
    if kind == "var":
        return node[1], 4
    if kind == "fn":
        inner, _ = _show(node[2], torch_code)
        return f"{'torch.' if torch_code else ''}{node[1]}({inner})", 4
    if kind == "sq":
        inner, p = _show(node[1], torch_code)
        return (f"{inner}**2" if p >= 4 else f"({inner})**2"), 3
    op, prec = node[1], _PREC[node[1]]
    left, lp = _show(node[2], torch_code)
    right, rp = _show(node[3], torch_code)
    left = left if lp >= prec else f"({left})"
    right = right if rp > prec or (rp == prec and op in "+*") else f"({right})"
    spaced = f" {op} " if torch_code or prec == 1 else op
    return f"{left}{spaced}{right}", prec


def _value(node: Node, values: dict[str, float]) -> float:
    """The value of ``node``; raises ValueError when it is not finite or too big to be friendly."""
    kind = node[0]
    if kind == "var":
        return float(values[node[1]])
    if kind in ("fn", "sq"):
        arg = _value(node[-1], values)
        v = float(_MATH[node[1] if kind == "fn" else "sq"](arg))
        if kind == "fn" and node[1] == "log" and arg < 0.05:
            raise ValueError("log of a number near or below zero")
        if kind == "fn" and ((node[1] in ("tanh", "sigmoid") and abs(arg) > 3)
                             or (node[1] == "exp" and arg > 5)):
            raise ValueError("a flat or steep part of a function: gradients too small or big")
    else:
        a, b = _value(node[2], values), _value(node[3], values)
        if node[1] == "/" and abs(b) < 0.1:
            raise ValueError("division by a number near zero")
        v = {"+": a + b, "-": a - b, "*": a * b}[node[1]] if node[1] != "/" else a / b
    if not math.isfinite(v) or abs(v) > 1e3:
        raise ValueError("a value too big to work with by hand")
    return v


def _draw(rng: random.Random) -> tuple[Node, dict[str, float]]:
    n = rng.randint(3, 5)
    names = [f"x_{i}" for i in range(1, n + 1)]
    values = {x: float(rng.choice([-3, -2, -1, 1, 2, 3, 4, 5])) for x in names}
    terms: list[Node] = [("var", x) for x in names]
    if rng.random() < 0.6:  # one input used twice: two paths to its gradient
        terms.insert(rng.randint(0, n), ("var", rng.choice(names)))
    while len(terms) > 1:
        i = rng.randrange(len(terms) - 1)
        node: Node = ("bin", rng.choices("+-*/", weights=(4, 2, 4, 1))[0], terms[i], terms[i + 1])
        if rng.random() < 0.45:
            f = rng.choice(_FUNCS)
            node = ("sq", node) if f == "sq" else ("fn", f, node)
        terms[i: i + 2] = [node]
    root = terms[0]
    if rng.random() < 0.5:
        f = rng.choice(_FUNCS)
        root = ("sq", root) if f == "sq" else ("fn", f, root)
    return root, values


def random_formula(seed: int) -> Formula:
    """A random formula like the lab's homework, the same for the same ``seed``.

    Args:
        seed: any integer.

    Returns:
        A :class:`Formula`: print it for the question, ``.trace()`` for the answer.
    """
    rng = random.Random(seed)
    for _ in range(1000):
        root, values = _draw(rng)
        try:
            _value(root, values)
        except (ValueError, OverflowError, ZeroDivisionError):
            continue
        code, _ = _show(root, True)
        return Formula(seed, f"y = {_show(root, False)[0]}", code,
                       tuple((k, v) for k, v in values.items()))
    raise RuntimeError(f"gradtrace: no usable formula found for seed {seed}")  # pragma: no cover
