"""Process-wide pieces of tracing: which thread is traced by which recorder, the
``Function.apply`` wrapper, the global ``nn.Module`` forward hooks, and the garbage collector's
threshold.

A ``TorchFunctionMode`` is per thread, but these are global, so they are installed when the first
trace starts, removed when the last one ends, and look up the recorder of the calling thread, so
a trace never records (or slows much) work running in another thread.

# NOTE [process-wide state]
# Everything gradtrace changes or keeps beyond one thread and one trace, and why:
# - ``Function.apply`` (installed while any trace runs): custom autograd Functions are not seen by
#   the TorchFunctionMode as one call. The attribute found when the first trace starts is saved
#   and exactly that object is put back when the last one ends, so a patch another library made
#   after gradtrace was imported survives.
# - global module forward pre- and post-hooks (while any trace runs): the mode does not see
#   ``nn.Module`` calls; the hooks give parameter names and module paths.
# - the collector's young threshold (while any trace runs or is built): see the NOTE below.
# - ``_active``: the recorders of each traced thread, outermost first. Traces nest (a script
#   that traces itself under ``python -m gradtrace``, an ``@trace`` function called in a traced
#   cell): each recorder has its own ``TorchFunctionMode``, and torch hands an op from the inner
#   mode's handler on to the outer one, so each records the op; the global pieces below call
#   every recorder of the thread. A failed install removes the entry again.
# Caches that outlive traces but change nothing the user sees: ``ops._cache`` (how each torch
# callable is classified), ``naming._parse`` (the statements of up to 64 sources; reading them
# through ``linecache.getlines`` may add the file to ``linecache.cache``, as a traceback would),
# ``stats._ones_by_dtype`` (a buffer of ones, at most 1M elements per dtype),
# ``usercode._installed`` (the folders of installed code), ``usercode._ANSWERS`` (which files
# are the user's project, by project folders and file name, at most 4096), ``frames._KINDS``
# (what each function's frames are, by file and name, for the last 8 sets of traced files) and
# ``records._defaults`` (the field defaults of each record class). Per-tensor changes are not
# process-wide: ``retain_grad()`` on traced non-leaf tensors (noted as ``retained`` in the Trace).
"""

from __future__ import annotations

import functools
import gc
import threading
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.modules.module as _module
import torch.optim.optimizer as _optimizer
from torch.autograd.function import Function

from gradtrace.capture.compat import is_compiling

if TYPE_CHECKING:
    from gradtrace.capture.recorder import Recorder

__all__ = ["activate", "deactivate", "current", "installed", "collect_less", "collect_as_before"]

_lock = threading.Lock()
_active: dict[int, list[Recorder]] = {}
_handles: list[Any] = []
# what Function.apply was when the wrapper went in; kept after it is put back, for a call that
# fetched the wrapper just before
_apply_before: Any = Function.__dict__["apply"]
_apply_patched = False
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
    """The innermost recorder tracing the calling thread, if any."""
    found = _active.get(threading.get_ident()) if _active else None
    return found[-1] if found else None


def _recorders() -> list[Recorder]:
    """Every recorder tracing the calling thread, outermost first."""
    return _active.get(threading.get_ident(), []) if _active else []


def installed() -> bool:
    """Whether any of gradtrace's global patches is in place (none may outlive a trace)."""
    return bool(_handles or _collecting_less) or _saved_threshold is not None \
        or _apply_patched or Function.__dict__.get("apply") is _TRACED_APPLY


def activate(recorder: Recorder) -> None:
    """Add ``recorder`` to the calling thread's recorders; install the global pieces if first."""
    ident = threading.get_ident()
    with _lock:
        first = not _active
        _active.setdefault(ident, []).append(recorder)
        if first:
            try:
                _install()
            except BaseException:  # nothing half-installed stays, nor this thread's entry
                del _active[ident]
                _uninstall()
                raise


def deactivate(recorder: Recorder) -> None:
    with _lock:
        ident = threading.get_ident()
        found = _active.get(ident, [])
        if recorder in found:
            found.remove(recorder)
        if not found:
            _active.pop(ident, None)
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
    global _apply_before, _apply_patched
    _apply_before = Function.__dict__["apply"]  # whatever it is now, ours to put back
    Function.apply = _TRACED_APPLY  # type: ignore[assignment,method-assign]
    _apply_patched = True
    _handles.append(_module.register_module_forward_pre_hook(_enter_module))
    try:
        _handles.append(_module.register_module_forward_hook(_exit_module, always_call=True))
    except TypeError:  # torch without always_call
        _handles.append(_module.register_module_forward_hook(_exit_module))
    _handles.append(_optimizer.register_optimizer_step_pre_hook(_before_optimizer_step))
    _handles.append(_optimizer.register_optimizer_step_post_hook(_after_optimizer_step))


def _uninstall() -> None:
    """Undo :func:`_install`, or as much of it as was done."""
    global _apply_patched
    if _apply_patched:
        Function.apply = _apply_before  # type: ignore[method-assign]
        _apply_patched = False
    while _handles:
        _handles.pop().remove()


def _untraced_apply(cls: Any, *args: Any, **kwargs: Any) -> Any:
    """``Function.apply`` as it was before gradtrace wrapped it, called for ``cls``."""
    return _apply_before.__get__(None, cls)(*args, **kwargs)


def _traced_apply(cls: Any, *args: Any, **kwargs: Any) -> Any:
    recorders = [r for r in _recorders() if not r.busy]
    if not recorders or is_compiling():
        return _untraced_apply(cls, *args, **kwargs)
    apply = _untraced_apply
    for recorder in reversed(recorders):  # the innermost records first, as the modes do
        apply = functools.partial(_apply_through, recorder, apply)
    return apply(cls, *args, **kwargs)


def _apply_through(recorder: Recorder, apply: Any, cls: Any, *args: Any, **kwargs: Any) -> Any:
    return recorder.on_function(cls, apply, args, kwargs)


_TRACED_APPLY = classmethod(_traced_apply)


def _before_optimizer_step(optimizer: Any, args: Any, kwargs: Any) -> None:
    for recorder in _recorders():
        recorder.optimizer_steps.before(recorder, optimizer)


def _after_optimizer_step(optimizer: Any, args: Any, kwargs: Any) -> None:
    for recorder in _recorders():
        recorder.optimizer_steps.after(recorder, optimizer)


def _enter_module(module: torch.nn.Module, args: Any) -> None:
    for recorder in _recorders():
        recorder.enter_module(module)
        recorder.modes.saw(recorder, module, args)


def _exit_module(module: torch.nn.Module, args: Any, output: Any) -> None:
    for recorder in _recorders():
        recorder.exit_module(module, output)
