"""The chain rule in numbers: each backward step's local derivatives, gradient in, and product.

For a backward step of an op ``y = f(z)``, the step received ``∂L/∂y`` and sent ``∂L/∂z``; the
chain rule says ``∂L/∂z = ∂L/∂y · ∂y/∂z``. :func:`local_derivatives` works out ``∂y/∂z`` (its
formula and value) from the Trace's records alone: the op's name, its operands' kept values and
the numbers passed as literals. Intermediate tensors without a variable name get short symbols
(``v1``, ``v2``, ...), listed by :func:`symbols`, so formulas stay readable.

Example:
    >>> import torch
    >>> from gradtrace import trace
    >>> with trace() as t:
    ...     x = torch.tensor([0.9460], requires_grad=True)
    ...     z = x.log()
    ...     y = z ** 2
    ...     y.backward()
    >>> [d.text for d in local_derivatives(t, t.backward_steps[1])]
    ['∂z/∂x = 1/x = 1.0571;  ∂y/∂x = ∂y/∂z · ∂z/∂x = -0.1110 · 1.0571 = -0.1174']
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

import torch

from gradtrace.model.records import TensorSummary
from gradtrace.teaching.derivatives import GRAD, Partial, expression, partials
from gradtrace.teaching.symbols import symbols

if TYPE_CHECKING:
    from gradtrace.model.trace import BackwardStep, ForwardStep, Trace

__all__ = ["LocalDerivative", "local_derivatives", "symbols", "edges", "Edge", "formula_of", "fmt",
           "root_of", "ChainContext"]

def fmt(t: torch.Tensor | None) -> str:
    """A tensor as the tables show it: ``"-0.1174"``, ``"[1.0000, 2.0000]"``, or statistics."""
    from gradtrace.views.format import format_value

    if t is None:
        return "?"
    t = t.detach()
    return format_value(TensorSummary(tuple(t.shape), str(t.dtype).replace("torch.", ""),
                                      values=t), shape=False)


@dataclass(frozen=True)
class Edge:
    """One operand of a forward step: the input step it read and the partial derivative."""

    output: int
    input: int
    position: int
    partial: Partial | None


def _operands(s: ForwardStep, by_step: dict[int, ForwardStep]) -> list[tuple[int | None, Any]]:
    """The op's operands in maths order: (input step, None) or (None, literal number)."""
    inputs = list(s.inputs)
    lits = list(s.literals)
    if lits and lits.count(None) >= len(inputs):
        it = iter(inputs)
        return [(next(it, None), None) if v is None else (None, v) for v in lits]
    found: list[tuple[int | None, Any]] = [(i, None) for i in inputs]
    if len(inputs) == 1 and s.op in ("pow", "mul", "add") and not lits:
        found.append((None, _recover(s, by_step[inputs[0]])))  # a hand-built or older Trace
    return found


def _recover(s: ForwardStep, x: ForwardStep) -> float | None:
    """The scalar of ``pow(x, k)``, ``mul(x, c)`` or ``add(x, c)`` when it was not recorded."""
    a, y = x.value.values, s.value.values
    if a is None or y is None or a.numel() == 0:
        return None
    a, y = a.double().flatten(), y.double().flatten()
    if s.op == "mul":
        ok = a != 0
        c = (y[ok] / a[ok]) if ok.any() else None
    elif s.op == "add":
        c = y - a
    else:  # pow: k = log|y| / log|x| where |x| is not 0 or 1
        ok = (a.abs() != 1) & (a != 0) & (y != 0)
        c = (y[ok].abs().log() / a[ok].abs().log()) if ok.any() else None
    if c is None or not torch.isfinite(c).all():
        return None
    v = float(c.median())
    return float(round(v)) if math.isclose(v, round(v), abs_tol=1e-4) else v


def edges(trace: Trace, s: ForwardStep, syms: dict[int, str] | None = None,
          by_step: dict[int, ForwardStep] | None = None) -> list[Edge]:
    """The edges into ``s``: one per tensor operand that requires grad, with its partial."""
    syms = symbols(trace) if syms is None else syms
    by_step = {f.step: f for f in trace.steps} if by_step is None else by_step
    ops = _operands(s, by_step)
    values: list[Any] = []
    names: list[str] = []
    for step, lit in ops:
        if step is None:
            values.append(lit)
            names.append("?" if lit is None else f"{lit:g}" if isinstance(lit, float) else str(lit))
        else:
            values.append(by_step[step].value.values if step in by_step else None)
            names.append(syms.get(step, "?"))
    out = s.value.values
    found: list[Partial | None] = [None] * len(ops)
    if out is not None and all(v is not None for v, (st, _) in zip(values, ops) if st is not None):
        found = partials(s.op, values, out, names, dict(s.keywords))
    return [Edge(s.step, step, i, p) for i, ((step, _), p) in enumerate(zip(ops, found))
            if step is not None and step in by_step and by_step[step].requires_grad]


def formula_of(trace: Trace, s: ForwardStep, syms: dict[int, str],
               by_step: dict[int, ForwardStep] | None = None) -> str:
    """``s`` as an expression of its operands' symbols: ``"v2^2"``, ``"log(v8)"``."""
    by_step = {f.step: f for f in trace.steps} if by_step is None else by_step
    parts = [syms.get(st, "?") if st is not None else ("?" if v is None else f"{v:g}"
             if isinstance(v, float) else str(v)) for st, v in _operands(s, by_step)]
    return expression(s.op, parts) if s.inputs else s.op


def root_of(trace: Trace, backward_pass: int) -> int | None:
    """The forward step of the tensor a backward pass started from (its first root)."""
    for p in trace.passes:
        if p.index == backward_pass and p.roots:
            return p.roots[0]
    return None


@dataclass(frozen=True)
class LocalDerivative:
    """One factor of the chain rule at one backward step, for one input of the op.

    ``local`` is the elementwise ``∂output/∂input`` (None for matrix ops), ``grad_in`` the
    gradient the step received (``∂L/∂output``), ``product`` what the chain rule sends to the
    input along this edge (``∂L/∂input`` through this use). ``text`` says it in the lab's words.
    """

    backward_step: int
    output: int
    input: int
    formula: str
    local: torch.Tensor | None
    grad_in: torch.Tensor | None
    product: torch.Tensor | None
    matrix: bool
    text: str


class ChainContext(NamedTuple):
    """What the chain rule of every backward step reads of a trace, worked out once per trace:
    the symbols, the forward steps by number, and how many ops used each tensor."""

    syms: dict[int, str]
    by_step: dict[int, ForwardStep]
    uses: dict[int, int]

    @classmethod
    def of(cls, trace: Trace) -> ChainContext:
        """The context of ``trace``."""
        uses: dict[int, int] = {}
        for f in trace.steps:
            if f.requires_grad:
                for i in f.inputs:
                    uses[i] = uses.get(i, 0) + 1
        return cls(symbols(trace), {f.step: f for f in trace.steps}, uses)


def local_derivatives(trace: Trace, b: BackwardStep | int,
                      context: ChainContext | None = None) -> list[LocalDerivative]:
    """The local derivatives of backward step ``b`` (a record or its number), one per input.

    Empty for steps that are not an op's own backward (``AccumulateGrad``, inner nodes of a
    composite op, captures), for ops gradtrace has no rule for, and when values were not kept.
    ``context`` (:meth:`ChainContext.of`) saves working it out again for each step of a walk.
    """
    if isinstance(b, int):
        b = next(x for x in trace.backward_steps if x.step == b)
    syms, by_step, uses = ChainContext.of(trace) if context is None else context
    if b.kind != "node" or b.forward_step not in by_step:
        return []
    s = by_step[b.forward_step]
    root = root_of(trace, b.backward_pass)
    L = syms.get(root, "L") if root is not None else "L"
    y = syms[s.step]
    g = b.grad_in.values if b.grad_in is not None else None
    out = []
    for e in edges(trace, s, syms, by_step):
        if e.partial is None:
            continue
        p, x = e.partial, syms[e.input]
        product = p.vjp(g) if g is not None else None
        is_ = "+=" if uses.get(e.input, 0) > 1 else "="  # one of several uses: a share of the sum
        if p.matrix:
            formula = p.formula.replace(GRAD, f"∂{L}/∂{y}")
            text = f"∂{L}/∂{x} {is_} {formula} = {fmt(product)}"
        else:
            formula = p.formula
            local = fmt(_shown(p.local))
            text = (f"∂{y}/∂{x} = {formula} = {local};  ∂{L}/∂{x} {is_} ∂{L}/∂{y} · ∂{y}/∂{x} = "
                    f"{fmt(g)} · {local} = {fmt(product)}")
        out.append(LocalDerivative(b.step, s.step, e.input, formula, p.local, g, product,
                                   p.matrix, text))
    return out


def _shown(local: torch.Tensor | None) -> torch.Tensor | None:
    """A local derivative that is the same everywhere is shown as one number."""
    if local is not None and local.numel() > 1 and bool((local == local.flatten()[0]).all()):
        return local.flatten()[:1].reshape(())
    return local
