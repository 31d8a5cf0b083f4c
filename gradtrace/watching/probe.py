"""What a sampled iteration holds on to: the activations it makes and their gradients.

The sample's own recorder (:class:`ProbingRecorder`) hands the probe each output of a tanh,
sigmoid, ReLU or GELU call and each module call's output; a tensor hook on each holds its
gradient until the sample is measured, at the end of the backward pass (see NOTE [activations
in groups] in :mod:`gradtrace.watching.stats`). :meth:`Probe.stop` removes the hooks.

# NOTE [one mode for the trace and the probe]
# The probe used to push a ``TorchFunctionMode`` and a global module forward hook of its own
# under the trace's. Every op then went through two Python handlers: on the transformer of
# ``benchmarks/watch.py`` (about 3,000 recorded ops) the second mode added 127 ms to a traced
# iteration of 1,113 ms (the plain one takes 250 ms). The recorder sees every call and every
# module's output already, so the probe now listens to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

import torch

from gradtrace.capture.ops import op_info
from gradtrace.capture.recorder import Recorder

if TYPE_CHECKING:
    from gradtrace.watching.sample import Sample

__all__ = ["Probe", "ProbingRecorder", "Activation", "ACTIVATIONS"]

#: the ops whose outputs are activations, by name (in-place forms included)
ACTIVATIONS = {"tanh": "tanh", "tanh_": "tanh", "sigmoid": "sigmoid", "sigmoid_": "sigmoid",
               "relu": "relu", "relu_": "relu", "gelu": "gelu"}
_MODULES = {torch.nn.Tanh: "tanh", torch.nn.Sigmoid: "sigmoid", torch.nn.ReLU: "relu",
            torch.nn.GELU: "gelu"}


class Activation:
    """One activation a sample kept: the tensor, the op that made it, its gradient's stats."""

    __slots__ = ("grad", "handle", "module", "op", "tensor")

    def __init__(self, tensor: torch.Tensor, op: str | None, module: str | None) -> None:
        self.tensor = tensor
        self.op = op
        self.module = module
        self.grad: torch.Tensor | None = None
        self.handle: Any = None


class _Seen(NamedTuple):
    op: str | None
    module: str | None


class Probe:
    """Keeps the activations of one sampled iteration, as its recorder reports them.

    Args:
        module_names: the path of each module of the watched model, by ``id``.
    """

    def __init__(self, module_names: dict[int, str] | None = None) -> None:
        self.activations: dict[int, Activation] = {}  # by id of the tensor, which is held
        self._module_names = module_names or {}

    def stop(self) -> None:
        """Remove the gradient hooks; the activations stay until :meth:`clear`."""
        for a in self.activations.values():
            if a.handle is not None:
                a.handle.remove()
                a.handle = None

    def clear(self) -> None:
        self.activations.clear()

    def measured(self) -> None:
        """The sample took its statistics: the gradients are let go (autograd may reuse their
        memory again)."""
        for a in self.activations.values():
            a.grad = None

    def called(self, func: Any, out: Any) -> None:
        """A torch call returned ``out``: kept if ``func`` is an activation function."""
        op = ACTIVATIONS.get(op_info(func).name)
        if op is not None and isinstance(out, torch.Tensor):
            with torch._C.DisableTorchFunction():
                self.keep(out, _Seen(op, None))

    def module_returned(self, module: torch.nn.Module, output: Any) -> None:
        if isinstance(output, torch.Tensor):
            op = _MODULES.get(type(module))
            with torch._C.DisableTorchFunction():
                self.keep(output, _Seen(op, self._module_names.get(id(module))))

    def keep(self, t: torch.Tensor, seen: _Seen) -> None:
        """Hold ``t`` and hook its gradient (an activation seen again keeps what it knew)."""
        if not t.is_floating_point():
            return
        found = self.activations.get(id(t))
        if found is not None and found.tensor is t:
            found.op = found.op or seen.op
            found.module = found.module or seen.module
            return
        a = Activation(t, seen.op, seen.module)
        if t.requires_grad:
            a.handle = t.register_hook(  # type: ignore[no-untyped-call]
                lambda g, a=a: self._on_grad(a, g))
        self.activations[id(t)] = a

    @staticmethod
    def _on_grad(a: Activation, g: torch.Tensor) -> None:
        a.grad = g


class ProbingRecorder(Recorder):
    """A :class:`~gradtrace.capture.recorder.Recorder` that tells ``probe`` of every call's
    output and every module's output (see NOTE [one mode for the trace and the probe])."""

    def __init__(self, probe: Probe, files: Iterable[str], **options: Any) -> None:
        super().__init__(files, **options)
        self.probe = probe
        #: the sample taken right before the watched optimizer's step, whose copies of the
        #: parameters the step's trace may take as its own (once)
        self.lender: Sample | None = None

    def copies_before_step(self, optimizer: Any, params: list[torch.Tensor]
                           ) -> list[torch.Tensor]:
        lender, self.lender = self.lender, None
        lent = lender.lend(params) if lender is not None else {}
        if not lent:
            return super().copies_before_step(optimizer, params)
        return [lent[id(p)] if id(p) in lent else p.detach().clone() for p in params]

    def on_call(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        out = super().on_call(func, args, kwargs)
        self.probe.called(func, out)
        return out

    def exit_module(self, module: torch.nn.Module, output: Any) -> None:
        super().exit_module(module, output)
        self.probe.module_returned(module, output)
