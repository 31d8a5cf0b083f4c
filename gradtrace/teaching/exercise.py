"""Exercise mode: the graph and the forward values, with the gradients hidden until revealed.

``Trace.exercise()`` (or ``random_formula(seed).exercise()``) gives an :class:`Exercise`: in a
notebook, the graph without gradients and a table of forward values, then a ``<details>`` that
reveals the answers and their chain-rule derivations (no JavaScript); as text, the question.
``check(x_1=3.77, ...)`` compares a hand calculation with autograd.

``python -m gradtrace.exercise --seed 7`` prints a random formula to differentiate by hand;
``--solve`` adds the traced answer (see :mod:`gradtrace.frontends.exercise`).

Example:
    >>> from gradtrace.teaching.formulas import random_formula
    >>> ex = random_formula(3).exercise()
    >>> print(ex.check(x_1=0.0).splitlines()[0])
    x_1: you wrote 0.0000, autograd says 0.5549: not quite
"""

from __future__ import annotations

import html
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import torch

from gradtrace.teaching.chain import fmt, formula_of, symbols

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace
    from gradtrace.teaching.formulas import Formula

__all__ = ["Exercise"]


class Exercise:
    """A traced computation shown as a question: find the gradients of ``names`` by hand.

    Args:
        trace: a trace with at least one backward pass.
        names: the tensors whose gradients are asked for (default: the leaves that require
            grad, in order).
        formula: the formula the trace computed, shown as the question when given.
    """

    def __init__(self, trace: Trace, names: list[str] | None = None, *,
                 formula: Formula | None = None) -> None:
        self.trace = trace
        self.formula = formula
        leaves = [s.name for s in trace.steps if s.requires_grad and s.is_leaf and not s.grad_fn]
        self.names = list(dict.fromkeys(names if names is not None else leaves))
        roots = [r for p in trace.passes for r in p.roots]
        self.output = symbols(trace).get(roots[-1], "y") if roots else "y"

    def answers(self) -> dict[str, torch.Tensor | None]:
        """Each asked-for gradient as autograd computed it (summed over backward passes)."""
        return {n: self.trace.grad(n) for n in self.names}

    def check(self, answers: dict[str, float] | None = None, /, **by_name: float) -> str:
        """Compare hand-computed gradients with autograd's, to 3 significant digits."""
        given = {**(answers or {}), **by_name}
        lines = []
        for name, mine in given.items():
            right = self.trace.grad(name)
            if right is None:
                lines.append(f"{name}: no gradient reached it")
                continue
            ok = torch.allclose(torch.as_tensor(mine, dtype=right.dtype), right, rtol=5e-3,
                                atol=5e-4)
            verdict = "right" if ok else "not quite"
            lines.append(f"{name}: you wrote {fmt(torch.as_tensor(float(mine)))}, autograd says "
                         f"{fmt(right)}: {verdict}")
        return "\n".join(lines)

    def _question(self) -> str:
        wanted = ", ".join(f"∂{self.output}/∂{n}" for n in self.names)
        head = f"{self.formula}\n\n" if self.formula else ""
        return f"{head}Find {wanted} by hand."

    def _values(self) -> list[tuple[str, str, str]]:
        syms, by_step = symbols(self.trace), {s.step: s for s in self.trace.steps}
        return [(syms[s.step], formula_of(self.trace, s, syms, by_step) if s.inputs else "",
                 fmt(s.value.values) if s.value.values is not None else "…")
                for s in self.trace.steps]

    def __str__(self) -> str:
        lines = [self._question(), "", "forward values:"]
        lines += [f"  {s} = {x} = {v}" if x else f"  {s} = {v}" for s, x, v in self._values()]
        lines += ["", "Check your answers with ex.check(x_1=..., ...); print(ex.solution()) "
                  "shows them."]
        return "\n".join(lines)

    def solution(self) -> str:
        """The answers with their derivations, as text."""
        found = self.answers()
        summary = ", ".join(f"∂{self.output}/∂{n} = {fmt(g)}" for n, g in found.items())
        parts = [summary] + [str(self.trace.explain(n)) for n in self.names]
        return "\n\n".join(parts)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        p.text(str(self))

    def _repr_html_(self) -> str:
        from gradtrace.views.derivation import MATH_STYLE, math_html
        from gradtrace.views.graph import build_graph
        from gradtrace.views.html import graph_html
        from gradtrace.views.style import BASE_STYLE, INLINE

        rows = "".join(f"<tr><td>{math_html(s)}</td><td>{'= ' + math_html(x) if x else ''}</td>"
                       f"<td>= {html.escape(v)}</td></tr>" for s, x, v in self._values())
        explained = "\n".join(self.trace.explain(n)._repr_html_() for n in self.names)
        question = html.escape(self._question()).replace("\n", "<br>")
        return "\n".join([
            f'<div class="gradtrace gt-exercise" style="{INLINE["root"]}">', BASE_STYLE,
            MATH_STYLE,
            f"<p><b>{question}</b></p>", _hidden_graph(self.trace),
            f'<table class="gt-eq">{rows}</table>',
            "<details><summary>Show the gradients</summary>",
            graph_html(build_graph(self.trace)), explained, "</details>", "</div>"])


def _hidden_graph(trace: Trace) -> str:
    """The graph with every gradient and backward order left out."""
    from gradtrace.views.graph import Graph, build_graph
    from gradtrace.views.html import graph_html

    full = build_graph(trace)
    graph = Graph(tuple(replace(n, grad=None, order=(), op_order=()) for n in full.nodes),
                  full.modules, full.notes)
    return graph_html(graph)
