"""Rules about what goes into a loss: probabilities where logits belong, shapes that broadcast,
and losses added up across iterations with their graphs.

# NOTE [loss inputs]
# - ``softmax_into_loss``: ``cross_entropy`` applies ``log_softmax`` itself and
#   ``binary_cross_entropy_with_logits`` a sigmoid; fed probabilities they squash them a second
#   time, and the gradient through the softmax shrinks as the model grows confident. The loss's
#   input is followed back through ops that only move elements (view, reshape, indexing, ...).
#   ``nll_loss`` of a softmax (rather than ``log_softmax``) is the same slip.
# - ``loss_broadcast``: a regression loss of a (N, 1) prediction against a (N,) target compares
#   every prediction with every target, N² pairs; PyTorch warns for ``mse_loss`` but the
#   ``((pred - y) ** 2).mean()`` written out does not. Reported when the shapes differ and their
#   broadcast is larger than both; for a written-out difference, when the shapes differ only by
#   a trailing 1 (pairwise distances, which mean to broadcast, add that dimension on both sides).
# - ``graph_kept``: ``total_loss += loss`` with a tensor ``loss`` keeps every iteration's graph
#   alive through ``total_loss`` (the PyTorch FAQ's "don't accumulate history"). Reported when
#   two or more iterations add a backpropagated loss to the same carried tensor and no backward
#   pass runs through it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gradtrace.diagnostics.describe import ancestors, step, where
from gradtrace.diagnostics.diagnostic import Diagnostic

if TYPE_CHECKING:
    from gradtrace.model.trace import ForwardStep, Trace

__all__ = ["softmax_into_loss", "loss_broadcast", "graph_kept"]

_MOVES = frozenset({"view", "reshape", "flatten", "squeeze", "unsqueeze", "transpose", "permute",
                    "contiguous", "getitem", "clone", "to", "float", "double", "view_as",
                    "reshape_as", "t", "narrow", "select", "expand", "expand_as"})
_TAKES_LOGITS = {"cross_entropy": ("softmax", "log_softmax"),
                 "binary_cross_entropy_with_logits": ("sigmoid",), "nll_loss": ("softmax",)}
_REGRESSION = frozenset({"mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss",
                         "soft_margin_loss", "kl_div", "poisson_nll_loss", "gaussian_nll_loss"})


def _source(trace: Trace, index: int | None) -> ForwardStep | None:
    """The step that made ``index``'s values, past ops that only move elements."""
    s = step(trace, index)
    while s is not None and s.op in _MOVES and s.inputs:
        s = step(trace, s.inputs[0])
    return s


def softmax_into_loss(trace: Trace) -> list[Diagnostic]:
    """A softmax (sigmoid) output passed to a loss that applies softmax (sigmoid) itself."""
    found = []
    seen: set[int | None] = set()  # lines: a loop makes the same slip once per iteration
    for s in trace.steps:
        wrong = _TAKES_LOGITS.get(s.op)
        if wrong is None or not s.inputs:
            continue
        src = _source(trace, s.inputs[0])
        if src is None or src.op.rstrip("_") != wrong[0] or src.line in seen:
            continue
        seen.add(src.line)
        squash = "softmax" if wrong[0] == "softmax" else "sigmoid"
        itself = {"cross_entropy": "applies log_softmax itself",
                  "nll_loss": "expects log-probabilities"}.get(s.op, "applies a sigmoid itself")
        found.append(Diagnostic(
            "softmax_into_loss",
            f"{s.name} = {s.op}({src.name}, ...){where(s.line)} is given probabilities: "
            f"{src.name} is a {squash} output{where(src.line)}, and {s.op} {itself}, so the "
            "gradient is squashed twice.",
            f"Pass the logits (the input of the {squash}) to {s.op}"
            + (" (or log_softmax to nll_loss)" if s.op == "nll_loss" else "")
            + f"; use {squash} only to read probabilities.",
            tensor=src.name, step=src.step, line=src.line))
    return found


def loss_broadcast(trace: Trace) -> list[Diagnostic]:
    """A loss whose input and target shapes differ and broadcast to a larger shape."""
    found = []
    for s in trace.steps:
        if len(s.inputs) < 2 or not (s.op in _REGRESSION or s.op == "sub"):
            continue
        a, b = step(trace, s.inputs[0]), step(trace, s.inputs[1])
        if a is None or b is None:
            continue
        x, y = a.value.shape, b.value.shape
        if x == y or not (a.requires_grad or b.requires_grad):
            continue
        if s.op == "sub" and not (x == (*y, 1) or y == (*x, 1)):
            continue
        size = _broadcast_numel(x, y)
        if size is None or size <= max(a.value.numel, b.value.numel):
            continue
        found.append(Diagnostic(
            "loss_broadcast",
            f"{s.name} = {s.op}({a.name}, {b.name}){where(s.line)} compares shapes "
            f"{_shape(x)} and {_shape(y)}, which broadcast to {size} pairs: every prediction is "
            "compared with every target.",
            f"Make the shapes equal: {a.name if len(x) > len(y) else b.name}.squeeze(-1) (or "
            f"{b.name if len(x) > len(y) else a.name}.unsqueeze(-1)).",
            tensor=s.name, step=s.step, line=s.line))
        break
    return found


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"


def _broadcast_numel(x: tuple[int, ...], y: tuple[int, ...]) -> int | None:
    n = 1
    for i in range(1, max(len(x), len(y)) + 1):
        p = x[-i] if i <= len(x) else 1
        q = y[-i] if i <= len(y) else 1
        if p != q and 1 not in (p, q):
            return None
        n *= max(p, q)
    return n


def graph_kept(trace: Trace) -> list[Diagnostic]:
    """A tensor carried across iterations that adds up backpropagated losses with their graphs."""
    roots = {r for p in trace.passes for r in p.roots}
    if not roots:
        return []
    steps = trace.steps
    backpropagated = ancestors(trace, roots)
    chain: dict[int, int] = {}  # step of an accumulating add -> how many adds led to it
    for s in steps:
        if s.op not in ("add", "add_") or not s.requires_grad or s.step in backpropagated:
            continue
        losses = [i for i in s.inputs if i in roots or any(
            j in roots for j in (steps[i - 1].inputs if 0 < i <= len(steps) else ()))]
        if not losses:
            continue
        carried = [chain[i] for i in s.inputs if i in chain]
        chain[s.step] = 1 + max(carried, default=0)
    long = [i for i, n in chain.items() if n >= 2]
    if not long:
        return []
    first = steps[long[0] - 1]
    n = max(chain.values())
    return [Diagnostic(
        "graph_kept",
        f"{first.name}{where(first.line)} adds up {n} losses that were backpropagated, each with "
        f"its autograd graph, and no backward pass runs through {first.name}: every iteration's "
        "graph stays in memory.",
        f"Add the number, not the tensor: {first.name} += loss.item() (or loss.detach()).",
        tensor=first.name, step=first.step, line=first.line)]

