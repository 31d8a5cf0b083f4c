"""Which gradients reached a tensor, in which pass, and what its ``.grad`` held at the end.

A tensor may have several versions (a parameter an optimizer updated, a tensor changed in place):
they share ``ForwardStep.tensor_id``, and ``.grad`` belongs to the tensor, not to one version.

# NOTE [honest gradients]
# ``Trace.grad(name)`` must be a number the code's ``.grad`` really held. For a leaf that is the
# ``.grad`` read when the traced code ended (``TraceRecords.leaf_grads``), less what it held
# before the trace if nothing reset it inside the trace; passes of ``torch.autograd.grad`` never
# add to a leaf's ``.grad``. For a non-leaf it is what ``retain_grad()`` would have put there:
# the sum of what reached it since the last reset, in every pass (its hook runs in
# ``torch.autograd.grad`` too).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from gradtrace.model.records import Event, ForwardStep, TensorSummary

if TYPE_CHECKING:
    from gradtrace.model.trace import Trace

__all__ = ["Arrival", "arrivals", "resets", "leaf_grad_at_end", "adds_to_grad"]

#: Backward step kinds whose ``grad_in`` is the gradient of the tensor itself.
_OWN = ("node", "accumulate", "capture")


class Arrival(NamedTuple):
    """One gradient that reached a tensor: in which pass, at which backward step."""

    backward_pass: int
    step: int
    grad: TensorSummary


def _steps_of(trace: Trace, s: ForwardStep) -> set[int]:
    """The versions whose gradients land in the same ``.grad`` as ``s``'s: every version of a
    leaf (an optimizer step keeps the tensor), but only ``s`` itself for a non-leaf (an in-place
    op gives it a new ``grad_fn``, and ``retain_grad`` follows the newest)."""
    if not s.is_leaf or not s.tensor_id:  # tensor_id 0: a step built by hand, its own tensor
        return {s.step}
    return {v.step for v in trace.steps if v.tensor_id == s.tensor_id}


def arrivals(trace: Trace, s: ForwardStep) -> list[Arrival]:
    """Every gradient that reached the tensor of ``s`` (any of its versions), in order."""
    mine = _steps_of(trace, s)
    out = []
    for b in trace.backward_steps:
        if b.kind in _OWN and b.forward_step in mine and b.grad_in is not None:
            out.append(Arrival(b.backward_pass, b.step, b.grad_in))
        out.extend(Arrival(b.backward_pass, b.step, e.grad) for e in b.other_outputs
                   if e.step in mine and e.grad is not None)
    return out


def adds_to_grad(trace: Trace, backward_pass: int) -> bool:
    """Whether a pass adds to ``.grad`` (``backward``), or only returns gradients
    (``torch.autograd.grad``)."""
    p = trace.passes[backward_pass - 1] if 0 < backward_pass <= len(trace.passes) else None
    return p is None or p.call != "autograd.grad"


def resets(trace: Trace, s: ForwardStep) -> list[Event]:
    """The ``grad_reset`` events of the tensor of ``s``: ``.grad = None``, ``zero_grad()``."""
    mine = _steps_of(trace, s)
    return [e for e in trace.events if e.kind == "grad_reset" and e.step in mine]


def leaf_grad_at_end(trace: Trace, s: ForwardStep) -> tuple[bool, TensorSummary | None]:
    """Whether the trace watched the ``.grad`` of the leaf of ``s`` (not for a non-leaf, nor
    a leaf no backward pass reached), and what it held when the traced code ended."""
    mine = _steps_of(trace, s)
    for leaf in trace.leaf_grads:
        if leaf.step in mine:
            return True, leaf.grad
    return False, None
