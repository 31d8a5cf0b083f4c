"""Optimizer steps: each parameter an optimizer changed gets a new version, named after it.

# NOTE [seeing optimizer steps]
# ``torch.optim`` updates parameters in place under ``no_grad``, through per-tensor, foreach or
# fused kernels; recording those inner ops would show the optimizer's bookkeeping, not the
# user's math. The global step hooks of ``torch.optim.optimizer`` (public since torch 2.0) run
# around every optimizer's ``step()`` whatever its path: before it, the parameters' values are
# summarised (``Keeper.freeze``) and copied; after it, every parameter it was given (with a
# ``.grad``) becomes one forward step ``SGD.step`` (the optimizer's class) at the user's line, and
# the norms of the gradient, the update ``Δp`` and the new value are taken on the device and
# fetched once when the trace stops. The copy costs one parameter's memory for the step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

import torch

if TYPE_CHECKING:
    from gradtrace.capture.recorder import Recorder

__all__ = ["OptimizerSteps"]


class _Open(NamedTuple):
    optimizer: Any
    params: list[torch.Tensor]
    before: list[torch.Tensor]
    busy: bool  # the recorder's flag before the step
    idle: list[int]  # steps of the parameters it was given with no .grad: it skips them


class OptimizerSteps:
    """Turns each optimizer step of the traced code into new versions of its parameters."""

    def __init__(self) -> None:
        self.count = 0  # optimizer steps seen
        self._open: list[_Open] = []
        self._norms: list[tuple[dict[str, Any], torch.Tensor]] = []

    def before(self, rec: Recorder, optimizer: Any) -> None:
        with torch._C.DisableTorchFunction(), torch.no_grad():
            # not the user's reads of .grad (each would go through the recorder, and be
            # remembered as a read: a thousand a step for a transformer's parameters)
            given = [p for group in optimizer.param_groups for p in group["params"]
                     if isinstance(p, torch.Tensor)]
            params = [p for p in given if p.grad is not None]
            known = [rec.entry(p) for p in given if p.grad is None]
            idle = [e.step for e in known if e is not None]
            for p in params:
                rec.keeper.freeze(p)  # what it holds now, before the step changes it
            before = rec.copies_before_step(optimizer, params)
        self._open.append(_Open(optimizer, params, before, rec.busy, idle))
        rec.busy = True  # the optimizer's own ops are not the user's

    def after(self, rec: Recorder, optimizer: Any) -> None:
        if not self._open or self._open[-1].optimizer is not optimizer:
            return
        done = self._open.pop()
        rec.busy = done.busy
        self.count += 1
        # every parameter the step was given, changed or not: fused kernels (Adam(fused=True))
        # write without bumping the version counter, and an update of 0 is worth showing too
        changed = list(zip(done.params, done.before))
        if not changed:  # every .grad was None: a step that changed nothing is still a step
            rec.add_event("optimizer_step", None, rec.locator.where(2)[1], {
                "optimizer": type(optimizer).__name__, "call": self.count,
                "pass": len(rec.backward.passes), "steps": [], "idle": done.idle})
            return
        with torch._C.DisableTorchFunction(), torch.no_grad():
            frame, line, stmt = rec.locator.where(2)
            if frame is not None:
                rec.locator.note(frame, stmt)
            params = [p for p, _ in changed]
            before = [b for _, b in changed]
            grads = [p.grad for p in params if p.grad is not None]
            if len(grads) < len(params):  # the step set a .grad to None: norms of what is left
                grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
            before_norm, value, grad = (torch.stack(torch._foreach_norm(x)).double()
                                        for x in (before, params, grads))
            # the copies become -Δp (the same norm) in place: a new tensor per parameter
            # cost more in page faults than the subtraction (2.8 ms on a 1.4M-weight MLP)
            torch._foreach_sub_(before, params)
            update = torch.stack(torch._foreach_norm(before)).double()
            norms = torch.stack([update, value, grad, before_norm])
            op = f"{type(optimizer).__name__}.step"
            steps = [rec.record_update(p, op, line, stmt) for p in params]
        data: dict[str, Any] = {"optimizer": type(optimizer).__name__, "call": self.count,
                                "pass": len(rec.backward.passes), "steps": steps, "idle": done.idle}
        self._norms.append((data, norms))
        rec.add_event("optimizer_step", None, line, data)

    def finish(self) -> None:
        """Fetch the norms of every step (one transfer each) into the events' data."""
        for data, norms in self._norms:
            update, value, grad, before = norms.tolist()
            data.update(update_norm=update, value_norm=value, grad_norm=grad,
                        before_norm=before)
        self._norms = []
