"""Vanishing and exploding gradients, judged relative to the model, never by size alone.

# NOTE [relative gradient sizes]
# A gradient's norm says little by itself: a sum-of-squares loss over 2,000 points (PyTorch's
# polynomial fit, lr 1e-6) gives norms of 1e3 to 1e5 that are right, and d2l's control-flow
# example a norm of 1024. What is wrong is a weight that learns far slower than the rest of the
# model, or gradients that grow step after step. So:
# - ``vanishing``: within one backward pass, each weight of two or more dimensions gets the ratio
#   ‖∂L/∂W‖ / ‖W‖ (how fast one SGD step would move it); a weight whose ratio is below
#   ``vanishing_below`` (1e-5) times the largest in the pass is reported. Over the corpus's
#   correct programs the smallest ratio relative to the largest is 2.6e-4 (makemore part 3,
#   whose output layer is scaled by 0.01 and so learns fast); a 12-layer sigmoid MLP at default
#   init gives 5e-11 for its first layer.
# - ``exploding``: the norm of all the weights' gradients in a pass grows by more than
#   ``exploding_above`` (100) over the smallest norm of an earlier pass of the same weights. The
#   correct programs grow by at most 2.5x over their few steps (DCGAN); a regression on
#   unscaled features diverges by 2,300x in eight steps.
# Biases and other 1-D parameters are left out: a bias before a normalisation or an attention key
# bias gets a zero gradient by construction (softmax ignores a shift shared by all keys).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from gradtrace.diagnostics.describe import passes, where
from gradtrace.diagnostics.diagnostic import Diagnostic
from gradtrace.model.ledger import tensor_key

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace

__all__ = ["vanishing_exploding"]


def _ratios(trace: Trace) -> dict[int, dict[int, tuple[float, float, int]]]:
    """pass -> {tensor id: (‖grad‖, ‖value‖, step)} for the weights each pass reached."""
    steps = trace.steps
    found: dict[int, dict[int, tuple[float, float, int]]] = {}
    for b in trace.backward_steps:
        if b.kind != "accumulate" or b.forward_step is None or b.grad_in is None:
            continue
        s = steps[b.forward_step - 1]
        if len(s.value.shape) < 2:
            continue
        g, w = b.grad_in.norm, s.value.norm
        if g is None or w is None or not (math.isfinite(g) and math.isfinite(w)) or w == 0:
            continue
        found.setdefault(b.backward_pass, {})[tensor_key(s)] = (g, w, s.step)
    return found


def vanishing_exploding(trace: Trace) -> list[Diagnostic]:
    """Weights far slower to learn than the rest of the model; gradients growing across passes."""
    per_pass = _ratios(trace)
    found = []
    low, high = trace.settings.vanishing_below, trace.settings.exploding_above
    for number, weights in per_pass.items():
        if len(weights) < 2:
            continue
        rates = {t: g / w for t, (g, w, _) in weights.items() if g > 0}
        if not rates:
            continue
        top = max(rates.values())
        slow = sorted((r, t) for t, r in rates.items() if r < low * top)
        if not slow:
            continue
        fastest = max(rates, key=lambda t: rates[t])
        names = [f"{trace.steps[weights[t][2] - 1].name} {r / top:.2g}" for r, t in slow[:6]]
        first = trace.steps[weights[slow[0][1]][2] - 1]
        p = passes(trace).get(number)
        found.append(Diagnostic(
            "vanishing",
            f"in backward pass {number}{where(p.line if p else None)} some weights get gradients "
            f"far smaller, relative to their size, than {trace.steps[weights[fastest][2] - 1].name}"
            f" (‖grad‖/‖weight‖ relative to it): {', '.join(names)}"
            f"{f' and {len(slow) - 6} more' if len(slow) > 6 else ''}. They barely learn.",
            "Use activations that keep the gradient (ReLU, GELU rather than sigmoid or tanh in "
            "deep stacks), an initialisation scaled to the layer (kaiming / xavier), "
            "normalisation layers or residual connections.",
            tensor=first.name, tensors=tuple(trace.steps[weights[t][2] - 1].name for _, t in slow),
            step=first.step, line=p.line if p else None))
        break  # the first pass that shows it
    # passes of the same weights are compared (a GAN's discriminator pass with its own)
    smallest_of: dict[frozenset[int], tuple[int, float]] = {}
    for n, weights in sorted(per_pass.items()):
        key = frozenset(weights)
        total = math.sqrt(sum(g * g for g, _, _ in weights.values()))
        smallest = smallest_of.get(key)
        if smallest is not None and smallest[1] > 0 and total / smallest[1] > high:
            p = passes(trace).get(n)
            largest = max(per_pass[n].values())
            name = trace.steps[largest[2] - 1].name
            found.append(Diagnostic(
                "exploding",
                f"the weights' gradient norm grew from {smallest[1]:.3g} in backward pass "
                f"{smallest[0]} to {total:.3g} in pass {n}{where(p.line if p else None)} "
                f"({total / smallest[1]:.2g}x); the largest is {name}'s, {largest[0]:.3g}.",
                "Training is diverging: lower the learning rate, clip gradients "
                "(torch.nn.utils.clip_grad_norm_) or normalise the inputs.",
                tensor=name, tensors=(name,), step=largest[2], line=p.line if p else None))
            break
        if smallest is None or total < smallest[1]:
            smallest_of[key] = (n, total)
    return found
