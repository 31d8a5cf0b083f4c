"""Rules about activations that stop gradients: ReLU layers dead for the whole batch, tanh and
sigmoid outputs pinned in their flat tails.

# NOTE [dead and saturated units]
# Both are read from a forward step's statistics, so they cost nothing per element and work for
# tensors kept only as a summary. Only steps on the way to a backward pass's root count (what
# the model learned from), and only those whose input requires grad.
# - ``dead_relu``: a ReLU whose output is 0 for every element of the batch (its maximum is 0):
#   nothing before it gets a gradient through it. A random layer at a usual initialisation never
#   does this (over the corpus's correct programs the smallest fraction of positive ReLU outputs
#   is 0.26); a bias of -10 does.
# - ``saturated``: the mean local derivative of the layer, relative to its largest (1 - t² for
#   tanh, σ(1 - σ) / 0.25 for sigmoid), worked out from the norm and mean of the output: below
#   0.2 the layer passes back less than a fifth of the gradient it could. makemore part 3 at its
#   first initialisation (pre-activations of std 5.6, |t| > 0.97 for most units) gives 0.15;
#   after its fix 0.60. Over the corpus's correct programs the smallest is 0.32, makemore part
#   2's (std 2.6, the case part 3 then fixes). A sigmoid whose output goes straight into
#   binary_cross_entropy is an output layer that is allowed to be confident, and is left out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gradtrace.diagnostics.describe import ancestors, step, where
from gradtrace.diagnostics.diagnostic import Diagnostic

if TYPE_CHECKING:
    from gradtrace.model.trace import ForwardStep, Trace

__all__ = ["dead_relu", "saturated"]

_SATURATED = 0.2
_RELU = frozenset({"relu", "relu_"})
_SQUASH = {"tanh": 1.0, "tanh_": 1.0, "sigmoid": 0.25, "sigmoid_": 0.25}


def _candidates(trace: Trace, ops: frozenset[str] | dict[str, float]) -> list[ForwardStep]:
    if not any(s.op in ops for s in trace.steps):
        return []
    trained = ancestors(trace, [r for p in trace.passes for r in p.roots])
    return [s for s in trace.steps if s.op in ops and s.step in trained and s.requires_grad
            and s.value.numel > 1]


def dead_relu(trace: Trace) -> list[Diagnostic]:
    """ReLU outputs that are zero for the whole batch, one warning per line."""
    found: dict[int | None, list[ForwardStep]] = {}
    for s in _candidates(trace, _RELU):
        if s.value.max is not None and s.value.max <= 0:
            found.setdefault(s.line, []).append(s)
    out = []
    for hits in found.values():
        s = hits[0]
        inp = step(trace, s.inputs[0]) if s.inputs else None
        before = f" (its input {inp.name} is at most {inp.value.max:.3g})" if inp is not None \
            and inp.value.max is not None else ""
        out.append(Diagnostic(
            "dead_relu",
            f"{s.name} = relu(...){where(s.line)} is 0 for all {s.value.numel} elements"
            f"{before}, in {len(hits)} forward pass{'es' if len(hits) > 1 else ''}: no gradient "
            "flows back through it, so nothing before it learns from this path.",
            "Check the layer's bias and initialisation (a large negative bias kills every unit), "
            "lower the learning rate, or use LeakyReLU / GELU.",
            tensor=s.name, step=s.step, line=s.line))
    return out


def saturated(trace: Trace) -> list[Diagnostic]:
    """tanh and sigmoid layers whose outputs sit in the flat tails, one warning per line."""
    into_bce = {i for s in trace.steps if s.op == "binary_cross_entropy" for i in s.inputs[:1]}
    found: dict[int | None, tuple[ForwardStep, float]] = {}
    for s in _candidates(trace, _SQUASH):
        if s.step in into_bce:
            continue
        v, numel = s.value, s.value.numel
        if v.norm is None or v.mean is None:
            continue
        square = v.norm * v.norm / numel  # the mean of t²
        slope = (1 - square) if _SQUASH[s.op] == 1.0 else (v.mean - square) / 0.25
        if slope < _SATURATED and s.line not in found:
            found[s.line] = (s, slope)
    return [Diagnostic(
        "saturated",
        f"{s.name} = {s.op.rstrip('_')}(...){where(s.line)} is saturated: its mean local "
        f"derivative is {slope:.2f} of the largest, so it passes back little gradient (its "
        f"outputs sit near {'±1' if _SQUASH[s.op] == 1.0 else '0 and 1'}).",
        "Scale the layer's input down: initialise the weights before it smaller (kaiming / "
        "xavier: std = gain / sqrt(fan_in)), or add a normalisation layer before it.",
        tensor=s.name, step=s.step, line=s.line) for s, slope in found.values()]
