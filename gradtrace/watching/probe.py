"""What a sampled iteration holds on to: the activations it makes and their gradients.

While a sample is traced, a ``TorchFunctionMode`` (under the trace's own) keeps each output of
a tanh, sigmoid, ReLU or GELU call, and a global module forward hook each module call's output;
a tensor hook on each takes the statistics of its gradient as the backward pass makes it, so no
gradient is held (autograd reuses a gradient's buffer only when nothing else refers to it).
Everything is removed by :meth:`Probe.stop`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.modules.module as _module
from torch.overrides import TorchFunctionMode

from gradtrace.capture.ops import op_info
from gradtrace.watching.stats import grad_stats

__all__ = ["Probe", "Activation", "ACTIVATIONS"]

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
        self.grad: list[torch.Tensor] | None = None
        self.handle: Any = None


class _Seen(NamedTuple):
    op: str | None
    module: str | None


class _Mode(TorchFunctionMode):
    def __init__(self, probe: Probe) -> None:
        super().__init__()
        self.probe = probe

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        out = func(*args, **(kwargs or {}))
        op = ACTIVATIONS.get(op_info(func).name)
        if op is not None and isinstance(out, torch.Tensor):
            self.probe.keep(out, _Seen(op, None))
        return out


class Probe:
    """Keeps the activations of one sampled iteration. ``start()``, run it, ``stop()``.

    Args:
        module_names: the path of each module of the watched model, by ``id``.
    """

    def __init__(self, module_names: dict[int, str] | None = None) -> None:
        self.activations: dict[int, Activation] = {}  # by id of the tensor, which is held
        self._module_names = module_names or {}
        self._mode: _Mode | None = None
        self._hook: Any = None

    def start(self) -> None:
        self._mode = _Mode(self)
        self._mode.__enter__()  # type: ignore[no-untyped-call]
        self._hook = _module.register_module_forward_hook(self._after_module)

    def stop(self) -> None:
        """Remove the mode and the hooks; the activations stay until :meth:`clear`."""
        if self._hook is not None:
            self._hook.remove()
            self._hook = None
        if self._mode is not None:
            self._mode.__exit__(None, None, None)  # type: ignore[no-untyped-call]
            self._mode = None
        for a in self.activations.values():
            if a.handle is not None:
                a.handle.remove()
                a.handle = None

    def clear(self) -> None:
        self.activations.clear()

    def _after_module(self, module: torch.nn.Module, args: Any, output: Any) -> None:
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
        with torch._C.DisableTorchFunction(), torch.no_grad():
            a.grad = grad_stats(g, a.tensor)
