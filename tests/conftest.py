"""Shared fixtures: every test must leave no gradtrace mode, hook or patch behind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch

from gradtrace.capture import process


@pytest.fixture(autouse=True)
def nothing_left_installed() -> Iterator[None]:
    yield
    assert torch._C._len_torch_function_stack() == 0, "a TorchFunctionMode outlived the test"
    assert not process.installed(), "Function.apply or a module hook outlived the test"
    assert process.current() is None, "a recorder is still registered for this thread"


@pytest.fixture
def outside_ipython(monkeypatch: pytest.MonkeyPatch) -> None:
    """As in plain Python: no IPython shell whose front end limits what a Trace renders.

    (The magic tests start an in-process shell whose front end shows text only.)
    """
    import gradtrace.views.display

    monkeypatch.setattr(gradtrace.views.display, "_active_types", lambda: None)
