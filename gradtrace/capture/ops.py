"""What a torch function is, for the recorder: its short name, whether it writes in place, and
whether it is noise (a property read, a conversion to Python) or starts a backward pass.

Example:
    >>> import torch
    >>> info = op_info(torch.Tensor.__rmul__)
    >>> (info.name, info.reversed, info.inplace)
    ('mul', True, False)
    >>> op_info(torch.Tensor.add_).inplace
    True
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch.overrides import resolve_name

__all__ = ["OpInfo", "op_info"]

# dunder name -> (op name, reversed operands)
_DUNDERS = {
    "add": ("add", False), "radd": ("add", True), "sub": ("sub", False), "rsub": ("sub", True),
    "mul": ("mul", False), "rmul": ("mul", True), "truediv": ("div", False),
    "rtruediv": ("div", True), "div": ("div", False), "rdiv": ("div", True),
    "floordiv": ("floor_divide", False), "rfloordiv": ("floor_divide", True),
    "pow": ("pow", False), "rpow": ("pow", True), "matmul": ("matmul", False),
    "rmatmul": ("matmul", True), "mod": ("remainder", False), "neg": ("neg", False),
    "getitem": ("getitem", False), "setitem": ("setitem", False), "abs": ("abs", False),
    "and": ("bitwise_and", False), "or": ("bitwise_or", False), "xor": ("bitwise_xor", False),
    "invert": ("bitwise_not", False), "lt": ("lt", False), "le": ("le", False),
    "gt": ("gt", False), "ge": ("ge", False), "eq": ("eq", False), "ne": ("ne", False),
}
# Tensor-valued attribute reads that are bookkeeping, not computation
_NOISE_GETTERS = {"grad", "_grad", "_base", "grad_fn", "_grad_fn", "data"}
# Calls that return tensors but change no value: recording them would only add noise
_NOISE_CALLS = {"requires_grad_", "retain_grad", "register_hook", "__repr__", "__format__",
                "__reduce_ex__", "__deepcopy__", "_make_subclass", "__torch_function__",
                "share_memory_", "pin_memory", "__iter__", "__len__", "__array__"}
# Private ops that write the tensors of their first argument (a list): gradient clipping, AMP's
# unscaling and fused optimizers call them on CUDA
_IN_PLACE_LISTS = ("_foreach_", "_fused_", "_amp_foreach_")
BACKWARD_CALLS = {"torch.Tensor.backward": "backward",
                  "torch.autograd.backward": "autograd.backward",
                  "torch.autograd.grad": "autograd.grad"}


@dataclass(frozen=True)
class OpInfo:
    """How the recorder treats one torch function."""

    name: str
    inplace: bool = False
    reversed: bool = False
    noise: bool = False
    backward: str | None = None
    setter: bool = False  # an attribute written (``x.grad = None``), not read


_cache: dict[Any, OpInfo] = {}


def op_info(func: Any) -> OpInfo:
    """The :class:`OpInfo` of ``func`` (cached: this runs for every traced call)."""
    try:
        return _cache[func]
    except (KeyError, TypeError):
        pass
    info = _classify(func)
    with contextlib.suppress(TypeError):  # an unhashable callable is classified every time
        _cache[func] = info
    return info


def _classify(func: Any) -> OpInfo:
    boundary = getattr(func, "__gradtrace_boundary__", None)  # gradtrace.watch's wrappers
    if isinstance(boundary, str) and boundary in BACKWARD_CALLS:
        return OpInfo(BACKWARD_CALLS[boundary], backward=BACKWARD_CALLS[boundary])
    if func is torch.autograd.grad or func is torch.autograd.backward:
        full = f"torch.autograd.{func.__name__}"
    elif func is torch.mm:  # resolve_name calls it torch.spmm
        full = "torch.mm"
    else:
        with warnings.catch_warnings():  # torch < 2.2 warns of deprecated names it lists
            warnings.simplefilter("ignore")
            resolved = resolve_name(func)
        full = resolved or getattr(func, "__qualname__", None) or repr(func)
    if full in BACKWARD_CALLS:
        return OpInfo(BACKWARD_CALLS[full], backward=BACKWARD_CALLS[full])
    if isinstance(func, (torch._ops.OpOverload, torch._ops.OpOverloadPacket)):
        return OpInfo(str(func), noise=True)
    parts = full.split(".")
    if parts[-1] in ("__get__", "__set__", "__delete__"):
        attr = parts[-2] if len(parts) > 1 else ""
        return OpInfo(attr, noise=parts[-1] != "__get__" or attr in _NOISE_GETTERS,
                      setter=parts[-1] == "__set__")
    name = parts[-1]
    if name in _NOISE_CALLS:
        return OpInfo(name, noise=True)
    if name.startswith("__") and name.endswith("__"):
        core = name[2:-2]
        inplace = core.startswith("i") and core[1:] in _DUNDERS and core not in _DUNDERS
        if inplace:
            op, _ = _DUNDERS[core[1:]]
            return OpInfo(op + "_", inplace=True)
        if core in _DUNDERS:
            op, rev = _DUNDERS[core]
            return OpInfo(op, inplace=(core == "setitem"), reversed=rev)
        return OpInfo(core)
    inplace = name.endswith("_") and (not name.startswith("_") or name.startswith(_IN_PLACE_LISTS))
    return OpInfo(name, inplace=inplace)
