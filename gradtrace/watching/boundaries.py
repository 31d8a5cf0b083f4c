"""Where one training iteration ends: at an optimizer step, or at a backward pass when the code
updates its parameters by hand.

# NOTE [finding iteration boundaries for nothing]
# Between samples a watch must cost nothing, yet it has to count iterations. Three small pieces
# do it, installed while any watch runs, none touching a tensor:
# - wrappers around ``torch.Tensor.backward`` and ``torch.autograd.backward`` (one Python call
#   per backward pass). The user's ``loss.backward()`` reaches the wrapper before any
#   ``TorchFunctionMode`` handler runs, so when it returns the watch may stop one trace and start
#   the next: inside a mode's handler the mode stack is not the watch's to change. A
#   ``TorchFunctionMode`` would see the same calls but costs a Python call per op.
# - a global optimizer step pre-hook that meets each optimizer at its first ``step()`` and
#   wraps that optimizer's ``step`` (an instance attribute): the wrapper's return is again
#   outside every hook. Starting or stopping a trace inside a step hook would add or remove the
#   trace's own global step hooks while torch iterates over them.
# The objects found when the first watch starts are saved, and exactly they are put back when
# the last one ends; an optimizer's ``step`` is put back only if it is still the wrapper.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Protocol

import torch
import torch.autograd
import torch.optim.optimizer as _optimizer
from torch.overrides import resolve_name

__all__ = ["Listener", "listen", "unlisten", "installed"]


class Listener(Protocol):
    """What a watch hears about the training loop."""

    def backward_started(self, tensors: Any) -> None: ...
    def backward_ended(self, tensors: Any) -> None: ...
    def optimizer_met(self, optimizer: Any) -> None: ...
    def step_started(self, optimizer: Any) -> None: ...
    def step_ended(self, optimizer: Any) -> None: ...


_lock = threading.Lock()
_listeners: list[Listener] = []
_saved: dict[str, Any] = {}  # what the wrappers replaced
_handles: list[Any] = []
_wrapped_steps: dict[int, Any] = {}  # id(optimizer) -> the optimizer, while its step is wrapped
_depth = threading.local()  # backward wrappers running in this thread (the outermost reports)


def installed() -> bool:
    """Whether any wrapper or hook is in place (a test checks that none is left)."""
    return bool(_saved or _handles or _wrapped_steps)


def listen(listener: Listener) -> None:
    """Tell ``listener`` about every backward pass and optimizer step from now on."""
    with _lock:
        _listeners.append(listener)
        if len(_listeners) > 1:
            return
        # torch names a function from a table it builds once: build it from the originals
        resolve_name(torch.Tensor.backward)
        _saved["tensor"] = torch.Tensor.__dict__["backward"]
        _saved["autograd"] = torch.autograd.backward
        torch.Tensor.backward = _wrap(  # type: ignore[method-assign]
            _saved["tensor"], "torch.Tensor.backward")
        torch.autograd.backward = _wrap(_saved["autograd"], "torch.autograd.backward")
        _handles.append(_optimizer.register_optimizer_step_pre_hook(_meet))


def unlisten(listener: Listener) -> None:
    """Stop telling ``listener``; the last one out removes every wrapper and hook."""
    with _lock:
        if listener in _listeners:
            _listeners.remove(listener)
        if _listeners:
            return
        while _handles:
            _handles.pop().remove()
        if _saved:
            torch.Tensor.backward = _saved.pop("tensor")  # type: ignore[method-assign]
            torch.autograd.backward = _saved.pop("autograd")
        for optimizer in _wrapped_steps.values():
            if getattr(optimizer.__dict__.get("step"), "__gradtrace_boundary__", False):
                del optimizer.step
        _wrapped_steps.clear()


def _wrap(original: Any, name: str) -> Any:
    @functools.wraps(original)
    def backward(*args: Any, **kwargs: Any) -> Any:
        depth = getattr(_depth, "n", 0)
        tensors = args[0] if args else kwargs.get("tensors")
        listeners = list(_listeners) if depth == 0 else []
        for listener in listeners:
            listener.backward_started(tensors)
        _depth.n = depth + 1
        try:
            out = original(*args, **kwargs)
        finally:
            _depth.n = depth
        for listener in listeners:
            listener.backward_ended(tensors)
        return out

    backward.__gradtrace_boundary__ = name  # type: ignore[attr-defined]
    return backward


def _meet(optimizer: Any, args: Any, kwargs: Any) -> None:
    """An optimizer's first step: wrap its ``step`` so the next ones end where nothing runs."""
    if id(optimizer) in _wrapped_steps or not _listeners:
        return
    original = optimizer.step

    @functools.wraps(original)
    def step(*a: Any, **k: Any) -> Any:
        listeners = list(_listeners)
        for listener in listeners:
            listener.step_started(optimizer)
        out = original(*a, **k)
        for listener in listeners:
            listener.step_ended(optimizer)
        return out

    step.__gradtrace_boundary__ = True  # type: ignore[attr-defined]
    optimizer.step = step
    _wrapped_steps[id(optimizer)] = optimizer
    for listener in list(_listeners):
        listener.optimizer_met(optimizer)
