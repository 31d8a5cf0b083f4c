"""Local derivatives of common ops: the formula, its value, and the chain-rule step it makes.

Each rule reads the values of an op's operands (tensors kept in the Trace, or the numbers passed
as literals) and its output, and gives for every operand a :class:`Partial`: the formula of
``∂out/∂operand`` in the operands' symbols (``"2·z"``, ``"1/x"``), its value where the op is
elementwise, and ``vjp``, which turns the gradient of the output into what the chain rule sends
to that operand (``grad · local``, summed over broadcast dimensions; ``G·Bᵀ`` for matrix ops).

Example:
    >>> import torch
    >>> out = torch.tensor([0.9460]).log()
    >>> p = partials("pow", [out, 2], out ** 2, ["z", "2"])[0]
    >>> p.formula, round(p.local.item(), 4), round(p.vjp(torch.tensor([1.0])).item(), 4)
    ('2·z', -0.111, -0.111)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["Partial", "partials", "expression", "OPS", "GRAD"]

Value = Any  # a torch.Tensor, or a Python number passed as a literal
#: Stands for the output's gradient in the formulas of matrix ops (``"∂L/∂out · Wᵀ"``).
GRAD = "∂L/∂out"


@dataclass(frozen=True)
class Partial:
    """``∂out/∂operand``: its formula, its elementwise value (None for matrix ops) and its VJP."""

    formula: str
    local: torch.Tensor | None
    vjp: Callable[[torch.Tensor], torch.Tensor]
    matrix: bool = False


def _num(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _t(v: Value, like: torch.Tensor) -> torch.Tensor:
    return v if isinstance(v, torch.Tensor) else torch.tensor(v, dtype=like.dtype)


def _ew(formula: str, local: torch.Tensor, operand: Value, out: torch.Tensor) -> Partial | None:
    """An elementwise partial: the VJP is ``grad · local``, summed back to the operand's shape."""
    if not isinstance(operand, torch.Tensor):
        return None
    shape = operand.shape
    local = torch.broadcast_to(local.to(out.dtype), out.shape)
    return Partial(formula, local, lambda g: (g * local).sum_to_size(shape))


def _unary(v: Sequence[Value], out: torch.Tensor, s: Sequence[str], kw: dict[str, Any],
           op: str) -> list[Partial | None]:
    a, x = _t(v[0], out), s[0]
    table: dict[str, tuple[str, Callable[[], torch.Tensor]]] = {
        "neg": ("-1", lambda: -torch.ones_like(out)),
        "exp": (f"exp({x})", lambda: out),
        "log": (f"1/{x}", lambda: 1 / a),
        "sin": (f"cos({x})", lambda: torch.cos(a)),
        "cos": (f"-sin({x})", lambda: -torch.sin(a)),
        "tanh": (f"1 - tanh²({x})", lambda: 1 - out * out),
        "sigmoid": (f"σ({x})·(1 - σ({x}))", lambda: out * (1 - out)),
        "relu": (f"1 if {x} > 0 else 0", lambda: (a > 0).to(out.dtype)),
        "sqrt": (f"1/(2·√{x})", lambda: 0.5 / out),
        "abs": (f"sign({x})", lambda: torch.sign(a)),
        "square": (f"2·{x}", lambda: 2 * a),
    }
    if op == "leaky_relu":
        slope = float(kw["negative_slope"]) if "negative_slope" in kw else \
            float(v[1]) if len(v) > 1 else 0.01
        leak = torch.where(a > 0, torch.ones_like(out), torch.full_like(out, slope))
        return [_ew(f"1 if {x} > 0 else {_num(slope)}", leak, v[0], out)]
    formula, local = table[op]
    return [_ew(formula, local(), v[0], out)]


def _binary(v: Sequence[Value], out: torch.Tensor, s: Sequence[str], kw: dict[str, Any],
            op: str) -> list[Partial | None]:
    a, b = _t(v[0], out), _t(v[1], out)
    ones = torch.ones_like(out)
    if op in ("add", "sub"):
        alpha = kw.get("alpha", 1)
        sign = -1 if op == "sub" else 1
        second = "1" if alpha == 1 else _num(alpha)
        second = ("-" if sign < 0 else "") + second
        return [_ew("1", ones, v[0], out), _ew(second, ones * (sign * alpha), v[1], out)]
    if op == "mul":
        return [_ew(s[1], b, v[0], out), _ew(s[0], a, v[1], out)]
    if op == "div":
        if kw.get("rounding_mode") is not None:
            return [None, None]  # floor/trunc: a step function, derivative 0 almost everywhere
        return [_ew(f"1/{s[1]}", 1 / b, v[0], out),
                _ew(f"-{s[0]}/{s[1]}²", -a / (b * b), v[1], out)]
    # pow: a ** b
    if isinstance(v[1], torch.Tensor):
        first = f"{s[1]}·{s[0]}^({s[1]} - 1)"
    else:
        k = v[1]
        first = "1" if k == 1 else f"2·{s[0]}" if k == 2 else f"{_num(k)}·{s[0]}^{_num(k - 1)}"
    da = _ew(first, b * torch.pow(a, b - 1), v[0], out)
    return [da, _ew(f"{s[0]}^{s[1]}·ln {s[0]}", out * torch.log(a), v[1], out)]


def _reduce(v: Sequence[Value], out: torch.Tensor, s: Sequence[str], kw: dict[str, Any],
            op: str) -> list[Partial | None]:
    a = v[0]
    dim = kw.get("dim", v[1] if len(v) > 1 else None)
    # torch takes numpy's spelling too: makemore writes counts.sum(1, keepdims=True)
    keep = bool(kw.get("keepdim", kw.get("keepdims", v[2] if len(v) > 2 else False)))
    dims = list(range(a.dim())) if dim is None else [d % max(a.dim(), 1) for d in
                                                     ([dim] if isinstance(dim, int) else dim)]
    n = a.numel() // max(out.numel(), 1)
    scale = 1.0 / n if op == "mean" else 1.0

    def vjp(g: torch.Tensor) -> torch.Tensor:
        if not keep:
            for d in sorted(dims):
                g = g.unsqueeze(d)
        return (g * scale).expand(a.shape)

    if dim is None and out.numel() != 1:
        return [None]  # the reduced dimensions were not recorded
    formula = "1" if op == "sum" else f"1/{n}"
    return [Partial(formula, torch.full_like(a, scale), vjp)]


def _pulled(fn: Callable[..., torch.Tensor], args: Sequence[torch.Tensor], i: int
            ) -> Callable[[torch.Tensor], torch.Tensor]:
    """The VJP of ``fn`` at ``args`` for argument ``i``, by ``torch.func.vjp`` (any shapes)."""
    def vjp(G: torch.Tensor) -> torch.Tensor:
        back = torch.func.vjp(fn, *args)[1]
        pulled: torch.Tensor = back(G)[i]
        return pulled

    return vjp


def _matrix(v: Sequence[Value], out: torch.Tensor, s: Sequence[str], kw: dict[str, Any],
            op: str) -> list[Partial | None]:
    g = GRAD
    if op == "linear":  # y = x·Wᵀ + b
        x, w = v[0], v[1]
        bias = v[2] if len(v) > 2 and isinstance(v[2], torch.Tensor) else None
        texts = [f"{g} · {s[1]}", f"({g})ᵀ · {s[0]}", f"Σ_rows {g}"]
        if w.dim() != 2 or x.dim() == 0:  # unusual shapes: let torch.func work out the VJP
            args = [x, w] + ([bias] if bias is not None else [])
            return [Partial(t, None, _pulled(torch.nn.functional.linear, args, i), True)
                    for i, t in enumerate(texts[: len(args)])]

        def flat(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(-1, t.shape[-1]) if x.dim() > 1 else t.reshape(1, -1)

        parts: list[Partial | None] = [
            Partial(texts[0], None, lambda G: G @ w, True),
            Partial(texts[1], None, lambda G: flat(G).transpose(0, 1) @ flat(x), True)]
        if bias is not None:
            parts.append(Partial(texts[2], None, lambda G: G.sum_to_size(bias.shape), True))
        return parts
    a, b = v[0], v[1]
    if a.dim() == 2 and b.dim() == 2:
        return [Partial(f"{g} · {s[1]}ᵀ", None, lambda G: G @ b.transpose(0, 1), True),
                Partial(f"{s[0]}ᵀ · {g}", None, lambda G: a.transpose(0, 1) @ G, True)]
    return [Partial(f"{g} · {s[1]}ᵀ", None, _pulled(torch.matmul, [a, b], 0), True),
            Partial(f"{s[0]}ᵀ · {g}", None, _pulled(torch.matmul, [a, b], 1), True)]


def _softmax(v: Sequence[Value], out: torch.Tensor, s: Sequence[str], kw: dict[str, Any],
             op: str) -> list[Partial | None]:
    dim = kw.get("dim", v[1] if len(v) > 1 else None)
    if dim is None:
        return [None]
    g = GRAD
    if op == "softmax":  # s = softmax(x): ∂L/∂x = s ⊙ (∂L/∂s − Σ ∂L/∂s ⊙ s)
        return [Partial(f"{s[0]}′ ⊙ ({g} − Σ_dim {g} ⊙ {s[0]}′), {s[0]}′ = softmax({s[0]})", None,
                        lambda G: out * (G - (G * out).sum(dim, keepdim=True)), True)]
    return [Partial(f"{g} − softmax({s[0]}) · Σ_dim {g}", None,  # log_softmax
                    lambda G: G - out.exp() * G.sum(dim, keepdim=True), True)]


_UNARY = ("neg", "exp", "log", "sin", "cos", "tanh", "sigmoid", "relu", "leaky_relu", "sqrt",
          "abs", "square")
_BINARY = ("add", "sub", "mul", "div", "pow")
_RULES: dict[str, Callable[..., list[Partial | None]]] = {
    **{op: _unary for op in _UNARY}, **{op: _binary for op in _BINARY},
    "sum": _reduce, "mean": _reduce,
    **{op: _matrix for op in ("matmul", "mm", "spmm", "linear")},
    "softmax": _softmax, "log_softmax": _softmax,
}
#: The ops whose local derivatives gradtrace knows (as ``ForwardStep.op`` names them).
OPS = tuple(_RULES)
_ARITY = {**{op: 1 for op in _UNARY}, **{op: 2 for op in _BINARY}, "sum": 1, "mean": 1,
          "matmul": 2, "mm": 2, "spmm": 2, "linear": 2, "softmax": 1, "log_softmax": 1}
_INFIX = {"add": "+", "sub": "-", "mul": "·", "div": "/", "matmul": "@", "mm": "@", "spmm": "@"}


def partials(op: str, values: Sequence[Value], out: torch.Tensor, symbols: Sequence[str],
             keywords: dict[str, Any] | None = None) -> list[Partial | None]:
    """The partial derivatives of ``op`` with respect to each operand, in the maths order.

    Args:
        op: the op's name as :attr:`gradtrace.model.trace.ForwardStep.op` gives it.
        values: the operands: tensors, or the numbers passed as literals.
        out: the op's output value.
        symbols: how each operand is written in the formulas.
        keywords: the numbers passed by name (``alpha``, ``negative_slope``, ``dim``).

    Returns:
        One :class:`Partial` per operand; None for a literal, an unknown op, a non-float
        output, or an op whose needed arguments were not recorded (None in ``values``).
    """
    rule = _RULES.get(op)
    if rule is None or len(values) < _ARITY[op] or not out.is_floating_point() \
            or any(x is None for x in values[: _ARITY[op]]):
        return [None] * len(values)
    # an integer operand (a one-hot target, a mask) gets no gradient but is a factor of others'
    values = [x.to(out.dtype) if isinstance(x, torch.Tensor) and not x.is_floating_point()
              else x for x in values]
    with torch.no_grad():
        found = rule(values, out, symbols, dict(keywords or {}), op)
    return (found + [None] * len(values))[: len(values)]


def expression(op: str, symbols: Sequence[str]) -> str:
    """How an op's output is written in its operands' symbols: ``"a + b"``, ``"exp(a)"``.

    Example:
        >>> expression("pow", ["z", "2"]), expression("log", ["x"]), expression("mul", ["a", "b"])
        ('z^2', 'log(x)', 'a·b')
    """
    if op in _INFIX and len(symbols) == 2:
        return f"{symbols[0]} {_INFIX[op]} {symbols[1]}" if op != "mul" else "·".join(symbols)
    if op == "pow" and len(symbols) == 2:
        return f"{symbols[0]}^{symbols[1]}"
    if op == "neg" and len(symbols) == 1:
        return f"-{symbols[0]}"
    return f"{op}({', '.join(symbols)})"
