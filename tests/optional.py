"""Optional packages the tests use, skipped with a reason when they cannot run here."""

from __future__ import annotations

from typing import Any

import pytest
import torch


def transformers_or_skip() -> Any:
    """The ``transformers`` module, if it is installed and can run models with this torch
    (recent releases turn their PyTorch models off below the torch they need)."""
    transformers = pytest.importorskip("transformers")
    usable = getattr(transformers, "is_torch_available", lambda: True)()
    try:
        transformers.BertForSequenceClassification  # noqa: B018
    except (ImportError, AttributeError, RuntimeError):
        usable = False
    if not usable:
        pytest.skip(f"transformers {transformers.__version__} cannot run models with torch "
                    f"{torch.__version__}")
    return transformers
