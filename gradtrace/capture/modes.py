"""Which Dropout and BatchNorm modules ran in eval mode while the code was training.

# NOTE [module modes]
# ``model.eval()`` is a Python attribute write the recorder cannot see, but its effect shows when
# a module runs: the global forward pre-hook reads ``training`` of each Dropout and BatchNorm
# module (an ``isinstance`` test per module call, nothing for other modules). An event is made
# only when a module's state changes (its mode, whether grad is enabled, whether it can learn),
# so a long loop in one mode costs one event per module, not one per call; each event holds the
# number of backward passes run by then, which orders it against passes and updates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.dropout import _DropoutNd

if TYPE_CHECKING:
    from gradtrace.capture.recorder import Recorder

__all__ = ["ModeWatcher"]

_WATCHED = (_DropoutNd, _BatchNorm)


class ModeWatcher:
    """Notes each change of state of the Dropout and BatchNorm modules that run."""

    def __init__(self) -> None:
        self._last: dict[int, tuple[bool, bool, bool]] = {}  # id(module) -> its last state

    def saw(self, rec: Recorder, module: torch.nn.Module, args: Any) -> None:
        if not isinstance(module, _WATCHED):
            return
        if isinstance(module, _BatchNorm):  # it learns if its affine parameters train
            learns = module.weight is not None and module.weight.requires_grad
        else:  # a Dropout learns nothing itself: what feeds it does
            first = args[0] if isinstance(args, tuple) and args else None
            learns = isinstance(first, torch.Tensor) and first.requires_grad
        state = (module.training, torch.is_grad_enabled(), learns)
        if self._last.get(id(module)) == state:
            return
        self._last[id(module)] = state
        rec.add_event("module_mode", None, rec.locator.where(2)[1], {
            "module": rec.modules.current or type(module).__name__,
            "type": type(module).__name__, "training": state[0], "grad": state[1],
            "learns": learns, "pass": len(rec.backward.passes)})
