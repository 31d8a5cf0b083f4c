"""The gradient each edge of the graph carried: what an op's backward sent to each of its inputs.

A tensor used twice receives one summed gradient, but each use is an edge of its own: ``x_5`` of
the lab's formula gets 0.0651 from the ``mul`` and 0.0114 from the ``add``. The backward step of
the consumer's ``grad_fn`` records what it sent to each input (``BackwardStep.grad_out``), so the
gradient on the edge ``input → op`` is that step's edge to the input, once per pass.

Example:
    >>> import torch
    >>> from gradtrace.model.trace import ForwardStep, TensorSummary, Trace
    >>> from gradtrace.model.records import BackwardStep, GradientEdge
    >>> one = TensorSummary.of(torch.tensor([1.0]))
    >>> x = ForwardStep(1, "x", "tensor", (), one, requires_grad=True)
    >>> y = ForwardStep(2, "y", "mul", (1, 1), one, "MulBackward0", True, False)
    >>> sent = GradientEdge(1, "x", TensorSummary.of(torch.tensor([0.5])))
    >>> b = BackwardStep(1, 1, "MulBackward0", 2, "y", one, (sent, sent))
    >>> edges = EdgeGradients(Trace(steps=(x, y), backward_steps=(b,)))
    >>> [(a.backward_pass, a.grad.values.item()) for a in edges.sent(2, 1, use=1)]
    [(1, 0.5)]
    >>> edge_label(edges.sent(2, 1))
    '0.5000'
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from gradtrace.views.format import format_value

if TYPE_CHECKING:
    from gradtrace.model.records import TensorSummary
    from gradtrace.model.trace import Trace

__all__ = ["Sent", "EdgeGradients", "edge_label"]


class Sent(NamedTuple):
    """One gradient sent along an edge: in which pass and backward step, and the gradient."""

    backward_pass: int
    step: int
    grad: TensorSummary


class EdgeGradients:
    """What each op's backward sent to each of its inputs, read once from a Trace."""

    def __init__(self, trace: Trace) -> None:
        # (consumer step, input step) -> per backward step, the gradients sent, one per use
        self._sent: dict[tuple[int, int], list[list[Sent]]] = {}
        for b in trace.backward_steps:
            if b.kind != "node" or b.forward_step is None:
                continue
            uses: dict[int, list[Sent]] = {}
            for e in b.grad_out:
                if e.step is not None and e.grad is not None:
                    uses.setdefault(e.step, []).append(Sent(b.backward_pass, b.step, e.grad))
            for step, sent in uses.items():
                self._sent.setdefault((b.forward_step, step), []).append(sent)

    def sent(self, consumer: int, source: int, *, use: int = 0) -> list[Sent]:
        """The gradients ``consumer``'s backward sent to ``source``, one per pass; ``use`` picks
        the edge when the op read ``source`` more than once (``x * x``)."""
        found = []
        for per_step in self._sent.get((consumer, source), ()):
            if use < len(per_step):
                found.append(per_step[use])
            elif per_step:
                found.append(per_step[-1])
        return found


def edge_label(sent: list[Sent]) -> str:
    """The gradient an edge carried as a short label: ``"0.0651"``; ``"0.6931 ×2"`` when two
    passes sent the same; ``"1: 0.5000, 2: 0.2500"`` for different ones; ``""`` for none."""
    texts = [format_value(s.grad) for s in sent]
    if not texts:
        return ""
    if len(set(texts)) == 1:
        return texts[0] + (f" ×{len(texts)}" if len(texts) > 1 else "")
    if len(texts) <= 2:
        return ", ".join(f"{s.backward_pass}: {t}" for s, t in zip(sent, texts))
    return f"{texts[-1]} (pass {sent[-1].backward_pass} of {len(texts)})"
