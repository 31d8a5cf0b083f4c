"""``Trace.explain(name)``: the chain-rule derivation of a gradient, path by path.

The gradient of the output with respect to a tensor is the sum, over every path from the output
back to the tensor in the graph, of the product of the local derivatives along the path. A
tensor used twice (``x_5`` in ``log(exp(x_1*x_2)**2 + sin(x_3+x_4+x_5)*x_5)``) has two paths.
Everything is worked out from the Trace's records (see :mod:`gradtrace.teaching.chain`).

Example:
    >>> import torch
    >>> from gradtrace import trace
    >>> with trace() as t:
    ...     x = torch.tensor(2.0, requires_grad=True)
    ...     y = x * x + x.sin()
    ...     y.backward()
    >>> e = t.explain("x")
    >>> len(e.paths), round(e.total.item(), 4), round(x.grad.item(), 4)
    (3, 3.5839, 3.5839)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from gradtrace.teaching.chain import Edge, edges, fmt, formula_of, symbols
from gradtrace.teaching.derivatives import GRAD

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace

__all__ = ["explain", "Explanation", "Path", "Factor", "MAX_PATHS"]

#: Paths listed one by one; past this many the total is still exact, and the rest are counted.
MAX_PATHS = 32


@dataclass(frozen=True)
class Factor:
    """One local derivative on a path: ``∂output/∂input`` with its formula and value."""

    output: str
    input: str
    formula: str
    local: torch.Tensor | None
    matrix: bool = False
    root: str = "L"

    @property
    def text(self) -> str:
        """``"∂v3/∂v2 = 2·v2 = 14.7781"``; a matrix op in its product form."""
        if self.matrix:
            return (f"∂{self.output}/∂{self.input}: ∂{self.root}/∂{self.input} = {self.formula} "
                    "(matrix form)")
        if self.formula == "?":
            return f"∂{self.output}/∂{self.input} = ? (gradtrace has no rule for this op)"
        return f"∂{self.output}/∂{self.input} = {self.formula} = {fmt(self.local)}"


@dataclass(frozen=True)
class Path:
    """A path from the output to the tensor: its symbols, its factors and their product."""

    symbols: tuple[str, ...]
    factors: tuple[Factor, ...]
    product: torch.Tensor | None


@dataclass(frozen=True)
class Explanation:
    """The derivation of ``∂output/∂name``: paths, their products, and the total.

    ``total`` is the sum over all paths (worked out exactly even when more than
    :data:`MAX_PATHS` exist; ``count`` says how many), ``expected`` the gradient the Trace
    recorded for the tensor in that backward pass, ``seed`` the gradient the pass started with.
    ``legend`` lists (symbol, expression, value) for the tensors on the paths.
    """

    name: str
    output: str
    backward_pass: int | None
    seed: torch.Tensor | None
    paths: tuple[Path, ...]
    count: int
    total: torch.Tensor | None
    expected: torch.Tensor | None
    legend: tuple[tuple[str, str, str], ...] = ()
    note: str = ""

    def __str__(self) -> str:
        from gradtrace.views.derivation import explanation_text

        return explanation_text(self)

    def __repr__(self) -> str:
        paths = f"{self.count} path" + "s" * (self.count != 1)
        return f"<Explanation ∂{self.output}/∂{self.name} = {fmt(self.total)}: {paths}>"

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))

    def _repr_html_(self) -> str:
        from gradtrace.views.derivation import explanation_html

        return explanation_html(self)


def _pick(trace: Trace, name: str | int, of: str | int | None) -> tuple[int, int, int | None]:
    """(target step, root step, backward pass) for ``explain``. A name with several versions
    (a parameter an optimizer updated) means the latest version made before the root."""
    if of is not None:
        root = of if isinstance(of, int) else trace.step(of).step
        chosen = [p for p in trace.passes if root in p.roots]
    else:
        chosen = [p for p in trace.passes if p.roots]
        root = chosen[-1].roots[0] if chosen else max(
            (s.step for s in trace.steps if s.requires_grad), default=0)
    if isinstance(name, int):
        target = name
    else:
        versions = [s.step for s in trace.versions(name)]
        target = max((v for v in versions if v <= root), default=versions[-1])
    return target, root, (chosen[-1].index if chosen else None)


def explain(trace: Trace, name: str | int, *, of: str | int | None = None) -> Explanation:
    """Derive ``∂of/∂name`` by the chain rule, path by path (``of``: the last backward root)."""
    target, root, bp = _pick(trace, name, of)
    by_step = {s.step: s for s in trace.steps}
    syms = symbols(trace)
    into: dict[int, list[Edge]] = {
        s.step: edges(trace, s, syms, by_step) for s in trace.steps
        if target < s.step <= root and s.requires_grad}
    reach = {target}
    for step in sorted(into):
        if any(e.input in reach for e in into[step]):
            reach.add(step)
    on_paths = {root} & reach  # and only what the root was computed from
    for step in sorted(into, reverse=True):
        if step in on_paths:
            on_paths.update(e.input for e in into[step] if e.input in reach)
    reach = on_paths | {target}
    into = {k: [e for e in v if e.input in reach] for k, v in into.items() if k in reach}
    seed, expected = _received(trace, root, bp), _received(trace, target, bp)
    out_value = by_step[root].value.values
    if seed is None and out_value is not None and out_value.numel() == 1:
        seed = torch.ones_like(out_value)  # no backward ran: ∂out/∂out = 1
    shown = sorted(reach | {i for s in reach if s in into for e in into[s]
                            for i in by_step[s].inputs if i in by_step})
    legend = tuple((syms[s], formula_of(trace, by_step[s], syms, by_step)
                    if by_step[s].inputs and s in reach else "", fmt(by_step[s].value.values))
                   for s in shown)  # operands off the paths: values only
    out_sym, name_sym = syms[root], syms[target]
    if root not in reach:
        return Explanation(name_sym, out_sym, bp, seed, (), 0, None, expected, legend,
                           f"{out_sym} was not computed from {name_sym}: no path leads to it")
    count = {target: 1}
    for step in sorted(into):
        count[step] = sum(count[e.input] for e in into[step])
    paths = [_path(chain, root, seed, syms) for chain in _first_paths(into, root, target)]
    total = _total(into, root, target, seed)
    note = "" if all(e.partial for v in into.values() for e in v) else \
        "some ops on the paths have no derivative rule in gradtrace, so no total is given"
    note = " ".join(filter(None, [note, _other_passes(trace, target, bp, name_sym)]))
    return Explanation(name_sym, out_sym, bp, seed, tuple(paths), count[root], total, expected,
                       legend, note)


def _first_paths(into: dict[int, list[Edge]], root: int, target: int,
                 limit: int = MAX_PATHS) -> list[list[Edge]]:
    """The first ``limit`` paths from ``root`` back to ``target``, depth first, as edge lists.

    A loop makes paths tens of thousands of ops long, so this walks with its own stack rather
    than recursing (Python stops at about 1,000 frames): ``stack[k]`` is what is left to try
    after the first ``k`` edges of ``chain``.
    """
    if root == target:
        return [[]]
    found: list[list[Edge]] = []
    chain: list[Edge] = []
    stack = [iter(into[root])]
    while stack and len(found) < limit:
        e = next(stack[-1], None)
        if e is None:
            stack.pop()
            if chain:
                chain.pop()
        elif e.input == target:
            found.append([*chain, e])
        else:
            chain.append(e)
            stack.append(iter(into[e.input]))
    return found


def _path(chain: list[Edge], root: int, seed: torch.Tensor | None,
          syms: dict[int, str]) -> Path:
    names = [syms[root]] + [syms[e.input] for e in chain]
    factors, g = [], seed
    for e in chain:
        p = e.partial
        if p is None:
            factors.append(Factor(syms[e.output], syms[e.input], "?", None))
            g = None
            continue
        formula = p.formula.replace(GRAD, f"∂{syms[root]}/∂{syms[e.output]}")
        factors.append(Factor(syms[e.output], syms[e.input], formula, p.local, p.matrix,
                              syms[root]))
        g = p.vjp(g) if g is not None else None
    return Path(tuple(names), tuple(factors), g)


def _total(into: dict[int, list[Edge]], root: int, target: int,
           seed: torch.Tensor | None) -> torch.Tensor | None:
    """Reverse accumulation over the paths' graph: the exact sum over every path."""
    if seed is None:
        return None
    grads: dict[int, torch.Tensor] = {root: seed}
    for step in sorted(into, reverse=True):
        g = grads.get(step)
        if g is None:
            continue
        for e in into[step]:
            if e.partial is None:
                return None
            got = e.partial.vjp(g)
            grads[e.input] = grads[e.input] + got if e.input in grads else got
    return grads.get(target)


def _other_passes(trace: Trace, target: int, bp: int | None, name: str) -> str:
    """A note when the tensor got gradients in other backward passes too (they add up)."""
    got = [b for b in trace.backward_steps if b.forward_step == target and b.kind != "inner"
           and b.grad_in is not None and b.grad_in.values is not None]
    if len({b.backward_pass for b in got}) < 2:
        return ""
    grads = [b.grad_in.values for b in got if b.grad_in is not None
             and b.grad_in.values is not None]
    total = grads[0]
    for g in grads[1:]:
        total = total + g
    return (f"{name} got a gradient in {len(got)} backward passes and its .grad holds their sum, "
            f"{fmt(total)}; this is backward pass {bp} (of= picks the output).")


def _received(trace: Trace, step: int, bp: int | None) -> torch.Tensor | None:
    """The gradient the tensor of ``step`` received in backward pass ``bp``."""
    for b in trace.backward_steps:
        if b.backward_pass == bp and b.forward_step == step and b.kind != "inner":
            return b.grad_in.values if b.grad_in is not None else None
    return None
