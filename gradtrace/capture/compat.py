"""Feature checks for the torch versions gradtrace supports (see ``MIN_TORCH`` in the package).

Each check tests for the feature, never for a version number: builds from source and vendor
builds carry version strings that say little.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["is_compiling"]

#: Whether ``torch.compile`` is tracing the code that calls it. ``torch.compiler.is_compiling``
#: arrived in torch 2.3; before it, Dynamo folds ``torch._utils.is_compiling`` to True the same way.
is_compiling: Callable[[], bool] = getattr(torch.compiler, "is_compiling", None) \
    or torch._utils.is_compiling
