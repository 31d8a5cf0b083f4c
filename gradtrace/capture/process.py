"""Process-wide pieces of tracing: which thread is traced by which recorder, the
``Function.apply`` wrapper, the global ``nn.Module`` forward hooks, and the garbage collector's
threshold.

A ``TorchFunctionMode`` is per thread, but these are global, so they are installed when the first
trace starts, removed when the last one ends, and look up the recorder of the calling thread, so
a trace never records (or slows much) work running in another thread.
"""

from __future__ import annotations

import gc
import threading
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.modules.module as _module
from torch.autograd.function import Function

if TYPE_CHECKING:
    from gradtrace.capture.recorder import Recorder

__all__ = ["activate", "deactivate", "current", "installed", "collect_less", "collect_as_before"]

_lock = threading.Lock()
_active: dict[int, Recorder] = {}
_handles: list[Any] = []
_original_apply = Function.__dict__["apply"]
_saved_threshold: tuple[int, ...] | None = None  # the collector's, while traces run
_collecting_less = 0  # traces running or being built

# NOTE [collecting garbage less often while tracing]
# A trace makes many small records that all survive until it ends. With the default threshold
# (700 new objects) they soon trigger full collections, each walking every object in the process
# (80 ms with torch and pandas imported), which made a 3,000-op trace 1.5x slower. While any
# trace runs or is built, a young collection waits for 100,000 new objects; cycles are still
# collected, and the thresholds are put back when the last trace is built. ``timeit`` goes
# further and turns the collector off.
_YOUNG_THRESHOLD = 100_000


def current() -> Recorder | None:
    """The recorder tracing the calling thread, if any."""
    return _active.get(threading.get_ident()) if _active else None


def installed() -> bool:
    """Whether any of gradtrace's global patches is in place (none may outlive a trace)."""
    return bool(_handles or _collecting_less) or _saved_threshold is not None \
        or Function.__dict__["apply"] is not _original_apply


def activate(recorder: Recorder) -> None:
    """Make ``recorder`` the calling thread's recorder; install the global pieces if first."""
    ident = threading.get_ident()
    with _lock:
        if ident in _active:
            raise RuntimeError(
                "gradtrace: a trace is already running in this thread; nested traces are not "
                "supported. End the outer trace first, or trace the whole block once.")
        _active[ident] = recorder
        if len(_active) == 1:
            _install()


def deactivate(recorder: Recorder) -> None:
    with _lock:
        if _active.get(threading.get_ident()) is recorder:
            del _active[threading.get_ident()]
        if not _active:
            _uninstall()


def collect_less() -> None:
    """Raise the collector's young threshold until the matching :func:`collect_as_before`."""
    global _collecting_less, _saved_threshold
    with _lock:
        _collecting_less += 1
        if _collecting_less == 1:
            _saved_threshold = gc.get_threshold()
            gc.set_threshold(max(_saved_threshold[0], _YOUNG_THRESHOLD), *_saved_threshold[1:])


def collect_as_before() -> None:
    global _collecting_less, _saved_threshold
    with _lock:
        _collecting_less = max(0, _collecting_less - 1)
        if not _collecting_less and _saved_threshold is not None:
            gc.set_threshold(*_saved_threshold)
            _saved_threshold = None


def _install() -> None:
    Function.apply = classmethod(_traced_apply)  # type: ignore[assignment,method-assign]
    _handles.append(_module.register_module_forward_pre_hook(_enter_module))
    try:
        _handles.append(_module.register_module_forward_hook(_exit_module, always_call=True))
    except TypeError:  # torch without always_call
        _handles.append(_module.register_module_forward_hook(_exit_module))


def _uninstall() -> None:
    Function.apply = _original_apply  # type: ignore[method-assign]
    while _handles:
        _handles.pop().remove()


def _traced_apply(cls: Any, *args: Any, **kwargs: Any) -> Any:
    recorder = current()
    if recorder is None or recorder.busy or torch.compiler.is_compiling():
        return _original_apply.__func__(cls, *args, **kwargs)
    return recorder.on_function(cls, _original_apply.__func__, args, kwargs)


def _enter_module(module: torch.nn.Module, args: Any) -> None:
    recorder = current()
    if recorder is not None:
        recorder.enter_module(module)


def _exit_module(module: torch.nn.Module, args: Any, output: Any) -> None:
    recorder = current()
    if recorder is not None:
        recorder.exit_module(module, output)
