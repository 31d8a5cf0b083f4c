"""Feature checks for the torch versions gradtrace supports (see ``MIN_TORCH`` in the package).

Each check tests for the feature, never for a version number: builds from source and vendor
builds carry version strings that say little.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch._subclasses.fake_tensor import FakeTensor
from torch._subclasses.functional_tensor import FunctionalTensor

__all__ = ["is_compiling", "compile_time"]

#: Whether ``torch.compile`` is tracing the code that calls it. ``torch.compiler.is_compiling``
#: arrived in torch 2.3; before it, Dynamo folds ``torch._utils.is_compiling`` to True the same way.
is_compiling: Callable[[], bool] = getattr(torch.compiler, "is_compiling", None) \
    or torch._utils.is_compiling

# The tensors ``torch.compile`` runs ops on while it traces. Before torch 2.5 its AOT tracing runs
# with ``is_compiling()`` False, so an op on one of these is how the recorder tells.
_COMPILE_TIME = (FakeTensor, FunctionalTensor)


def compile_time(value: object) -> bool:
    """Whether ``value`` (a tensor, or a list or tuple whose first item is one) is a tensor
    that ``torch.compile`` made while tracing, not a value of the user's program."""
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return isinstance(value, _COMPILE_TIME)
