"""``trace``: the one way into gradtrace from Python, as a decorator or a context manager.

Example:
    >>> import torch
    >>> from gradtrace import trace
    >>> with trace() as t:
    ...     x = torch.tensor([3.0], requires_grad=True)
    ...     y = (x ** 2).sum()
    ...     y.backward()
    >>> t.grad("x")
    tensor([6.])
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, TypeVar, overload

from gradtrace.capture.recorder import Recorder
from gradtrace.capture.usercode import UserCode
from gradtrace.model.records import Settings, TraceRecords
from gradtrace.model.trace import Trace

__all__ = ["trace", "TraceContext"]

F = TypeVar("F", bound=Callable[..., Any])


class TraceContext:
    """Traces a block (``with``) or each call of a function (as a decorator).

    Args:
        show: a decorated function shows its trace after each call (HTML in a notebook, text
            elsewhere). The ``with`` form never shows anything by itself.
        retain_grad: call ``retain_grad()`` on non-leaf tensors so ``z.grad`` is readable
            afterwards, as plain PyTorch would need you to. This cannot be undone on those
            tensors; turn it off for big models.
        values: what the Trace keeps of each tensor and gradient. ``"summary"`` (the default):
            tensors of up to 4096 elements whole (until a trace has copied 2**20 elements in
            all), the rest as shape and statistics (min, max, mean, norm, NaN and Inf counts).
            ``"full"``: every tensor whole, so ``Trace.value`` / ``Trace.grad`` work for big
            tensors too; this can take as much memory as the model's activations.
            ``"none"``: shape and dtype only, the fastest; no values, statistics or NaN/Inf
            warnings.
        full_values: deprecated spelling of ``values="full"``.
        check: compare each custom ``torch.autograd.Function``'s backward with finite
            differences on the values it received (its first three calls per class).
        ignore: warning kinds not to report, e.g. ``["dead_relu"]`` (see
            ``gradtrace.diagnostics.KINDS``).
        update_ratio_below, update_ratio_above: an optimizer step whose update ``‖Δp‖/‖p‖``
            (``p`` before the step) is outside these bounds for a weight matrix is reported
            (the usual range is about 1e-4 to 1e-1; an exactly zero update is not reported).
        vanishing_below: a weight whose ``‖grad‖/‖weight‖`` is below this fraction of the
            largest in its backward pass is reported as vanishing.
        exploding_above: the weights' gradient norm growing by more than this factor over an
            earlier backward pass is reported as exploding.
        files: source files whose lines are shown and whose variables name the tensors; by
            default the file of the code that opened the ``with`` block or defined the function.
    """

    def __init__(self, *, show: bool = True, retain_grad: bool = True, values: str = "summary",
                 full_values: bool | None = None, check: bool = False,
                 ignore: Iterable[str] = (), vanishing_below: float = 1e-5,
                 exploding_above: float = 100.0, update_ratio_below: float = 1e-7,
                 update_ratio_above: float = 1.0, files: Iterable[str] | None = None) -> None:
        from gradtrace.diagnostics import KINDS

        self.ignore = tuple(ignore) if not isinstance(ignore, str) else (ignore,)
        unknown = sorted(set(self.ignore) - set(KINDS))
        if unknown:
            raise ValueError(f"gradtrace: unknown warning kind(s) {unknown} in ignore=; "
                             f"kinds are {', '.join(KINDS)}")
        from gradtrace.capture.summaries import VALUES

        if values not in VALUES:
            raise ValueError(f"gradtrace: values={values!r}; choose from {', '.join(VALUES)}")
        if full_values is not None:
            warnings.warn('gradtrace: full_values= is deprecated; use values="full"',
                          FutureWarning, stacklevel=3)
            if full_values and values not in ("summary", "full"):
                raise ValueError(f"gradtrace: full_values=True contradicts values={values!r}")
        self.show = show
        self.retain_grad = retain_grad
        self.values = "full" if full_values else values
        self.check = check
        self.settings = Settings(self.ignore, vanishing_below, exploding_above,
                                 update_ratio_below, update_ratio_above)
        self.files = None if files is None else list(files)
        # one (recorder, its Trace's records) per ``with`` running: traces nest, even this one
        self._running: list[tuple[Recorder, _Pending]] = []
        #: the Trace of the latest ``with`` block (also what ``with trace() as t`` gives ``t``)
        self.last_trace: Trace | None = None

    def __enter__(self) -> Trace:
        caller = sys._getframe(1)
        files = self.files or [caller.f_code.co_filename]
        recorder = Recorder(files, retain_grad=self.retain_grad, values=self.values,
                            check=self.check, settings=self.settings,
                            user_code=UserCode.around(files, _notebook_cells()))
        recorder.locator.root = caller if caller.f_code.co_filename in files else None
        pending = _Pending()
        recorder.start()
        self._running.append((recorder, pending))
        self.last_trace = Trace.later(pending)
        return self.last_trace

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        recorder, pending = self._running.pop()
        pending.build = recorder.stop(exc)

    def __call__(self, func: F) -> F:
        options: dict[str, Any] = dict(
            show=self.show, retain_grad=self.retain_grad, values=self.values,
            check=self.check, ignore=self.ignore, vanishing_below=self.settings.vanishing_below,
            exploding_above=self.settings.exploding_above,
            update_ratio_below=self.settings.update_ratio_below,
            update_ratio_above=self.settings.update_ratio_above)
        files = self.files

        @functools.wraps(func)
        def traced(*args: Any, **kwargs: Any) -> Any:
            code = getattr(func, "__code__", None)
            context = TraceContext(**options, files=files or
                                   ([code.co_filename] if code else None))
            t = None
            try:
                with context as t:
                    return func(*args, **kwargs)
            finally:
                traced.last_trace = t  # type: ignore[attr-defined]
                if self.show and t is not None:
                    _show(t)

        traced.last_trace = None  # type: ignore[attr-defined]
        return traced  # type: ignore[return-value]


@overload
def trace(func: F, /) -> F: ...
@overload
def trace(*, show: bool = True, retain_grad: bool = True, values: str = "summary",
          full_values: bool | None = None, check: bool = False, ignore: Iterable[str] = (),
          vanishing_below: float = 1e-5,
          exploding_above: float = 100.0, update_ratio_below: float = 1e-7,
          update_ratio_above: float = 1.0,
          files: Iterable[str] | None = None) -> TraceContext: ...
def trace(func: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Trace PyTorch code: ``with trace() as t:``, ``@trace`` or ``@trace(show=False)``.

    After a ``with`` block, ``t`` is the :class:`~gradtrace.Trace` of the block (also when the
    block raised: then it holds what ran up to the error). A decorated function returns what it
    always returns, shows the trace of each call unless ``show=False``, and keeps the last one
    as ``func.last_trace``. Options are those of :class:`TraceContext`.
    """
    if func is not None:
        if not callable(func):
            raise TypeError(f"gradtrace.trace: expected a function to decorate, got {func!r}; "
                            "use trace(show=...) for options.")
        return TraceContext(**options)(func)
    return TraceContext(**options)


class _Pending:
    """The records of a Trace that ``with`` hands out before its block has run."""

    def __init__(self) -> None:
        self.build: Callable[[], TraceRecords] | None = None

    def __call__(self) -> TraceRecords:
        if self.build is None:
            raise RuntimeError("gradtrace: this trace is still recording; read it after the "
                               "`with` block ends.")
        return self.build()


def _notebook_cells() -> list[str]:
    """The filenames of the IPython session's cells, if code runs in one: functions and classes
    defined in any cell are the user's code (their variables name tensors)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    compiler = getattr(shell, "compile", None)
    cells = getattr(compiler, "_filename_map", None)
    return list(cells) if isinstance(cells, dict) else []


def _show(t: Trace) -> None:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    if shell is not None:
        from IPython.display import display

        display(t)  # type: ignore[no-untyped-call]
    else:
        print(t)
