"""Plain records of what autograd did: the data every renderer reads.

A :class:`Trace` holds numbers, strings and small CPU tensor copies only, never live user tensors
or ``grad_fn`` objects, so it can be pickled, compared, kept, and built by hand in tests.

Example:
    >>> import torch
    >>> from gradtrace.model.trace import Trace, ForwardStep, TensorSummary
    >>> x = ForwardStep(step=1, name="x", op="tensor", inputs=(),
    ...                 value=TensorSummary.of(torch.tensor([3.0])), is_leaf=True,
    ...                 requires_grad=True)
    >>> t = Trace(steps=(x,))
    >>> t.value("x")
    tensor([3.])
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

import torch

from gradtrace.model.errors import TraceLookupError
from gradtrace.model.records import (
    BackwardPass,
    BackwardStep,
    Event,
    ForwardStep,
    GradientEdge,
    Settings,
    Stats,
    TensorSummary,
    TraceRecords,
)

if TYPE_CHECKING:
    import os
    from pathlib import Path

    import pandas

    from gradtrace.diagnostics import Diagnostic
    from gradtrace.teaching.exercise import Exercise
    from gradtrace.teaching.explain import Explanation
    from gradtrace.views.stepper import Stepper

__all__ = [
    "Event",
    "Settings",
    "BackwardPass",
    "BackwardStep",
    "ForwardStep",
    "GradientEdge",
    "Stats",
    "TensorSummary",
    "Trace",
    "TraceLookupError",
    "TraceRecords",
]


class Trace:
    """Everything gradtrace recorded for one piece of code.

    The raw records are ``steps``, ``backward_steps`` and ``passes`` (see :class:`TraceRecords`);
    ``forward``, ``backward`` and ``tensors`` show them as pandas DataFrames, ``warnings`` lists
    what looks wrong, and ``str(trace)`` is the plain-text report. ``Trace(steps=...)`` builds
    one by hand; ``Trace.later(build)`` one whose records ``build()`` makes when first read.
    """

    def __init__(self, steps: tuple[ForwardStep, ...] = (),
                 backward_steps: tuple[BackwardStep, ...] = (),
                 passes: tuple[BackwardPass, ...] = (), error: str | None = None,
                 error_line: int | None = None, values: str = "summary",
                 events: tuple[Event, ...] = (), settings: Settings | None = None) -> None:
        self._records: TraceRecords | None = TraceRecords(
            steps, backward_steps, passes, error, error_line, values, events,
            settings or Settings())
        self._build: Callable[[], TraceRecords] | None = None

    # NOTE [a Trace is built when first read]
    # Recording ends with every value summarised and every name bound, so nothing of the traced
    # code is held; turning the raw records into ForwardStep / BackwardStep objects (a third of
    # the cost of tracing a big model) waits until the records are first read, so a trace that
    # is never looked at (a decorated function called in a loop) costs only its recording.
    # ``build`` runs once; if it raises, it stays and the next read raises again.
    @classmethod
    def later(cls, build: Callable[[], TraceRecords]) -> Trace:
        """A Trace whose records ``build()`` makes when they are first read."""
        trace = cls.__new__(cls)
        trace._records, trace._build = None, build
        return trace

    @property
    def records(self) -> TraceRecords:
        """The records, built now if this is the first read."""
        if self._records is None:
            assert self._build is not None
            self._records = self._build()
            self._build = None
        return self._records

    @property
    def built(self) -> bool:
        """Whether the records have been made (see :meth:`later`)."""
        return self._records is not None

    @property
    def steps(self) -> tuple[ForwardStep, ...]:
        """Forward steps, in order."""
        return self.records.steps

    @property
    def backward_steps(self) -> tuple[BackwardStep, ...]:
        """Backward steps, in the order autograd ran them."""
        return self.records.backward_steps

    @property
    def passes(self) -> tuple[BackwardPass, ...]:
        """The calls that ran autograd."""
        return self.records.passes

    @property
    def error(self) -> str | None:
        """The error that stopped the traced code, as text, or None."""
        return self.records.error

    @property
    def error_line(self) -> int | None:
        """The line of the traced code where that error was raised."""
        return self.records.error_line

    @property
    def values(self) -> str:
        """What was kept of each tensor: ``"summary"``, ``"full"`` or ``"none"``."""
        return self.records.values

    @property
    def events(self) -> tuple[Event, ...]:
        """What the recorder saw that a diagnostic may explain."""
        return self.records.events

    @property
    def settings(self) -> Settings:
        """The trace's options that the diagnostics read."""
        return self.records.settings

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Trace):
            return NotImplemented
        return self.records == other.records

    __hash__ = None  # type: ignore[assignment]

    def __getstate__(self) -> dict[str, Any]:
        return {"records": self.records}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._records, self._build = state["records"], None

    @property
    def full_values(self) -> bool:
        """Deprecated: ``trace.values == "full"``."""
        warnings.warn('gradtrace: Trace.full_values is deprecated; use Trace.values == "full"',
                      FutureWarning, stacklevel=2)
        return self.values == "full"

    # -- tables -------------------------------------------------------------------------------
    @cached_property
    def forward(self) -> pandas.DataFrame:
        """One row per forward step: step, name, op, inputs, shape, value, grad_fn, line, ..."""
        from gradtrace.views.dataframes import forward_frame

        return forward_frame(self)

    @cached_property
    def backward(self) -> pandas.DataFrame:
        """One row per backward step in execution order: step, pass, node, grad_in, grad_out, ..."""
        from gradtrace.views.dataframes import backward_frame

        return backward_frame(self)

    @cached_property
    def tensors(self) -> pandas.DataFrame:
        """One row per name (its latest version): name, shape, value, grad, is_leaf, ..."""
        from gradtrace.views.dataframes import tensors_frame

        return tensors_frame(self)

    @cached_property
    def warnings(self) -> list[Diagnostic]:
        """Diagnostics for the classic mistakes, most important first."""
        from gradtrace.diagnostics import diagnose

        return diagnose(self)

    # -- lookups ------------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Every tensor name in the trace, in order of first appearance."""
        return list(dict.fromkeys(s.name for s in self.steps))

    def step(self, name: str) -> ForwardStep:
        """The latest forward step called ``name`` (a rebound name has several)."""
        for s in reversed(self.steps):
            if s.name == name:
                return s
        raise TraceLookupError(self._unknown(name))

    def value(self, name: str) -> torch.Tensor:
        """The forward value of the tensor called ``name`` (its latest version), as a CPU tensor."""
        s = self.step(name)
        if s.value.values is None:
            raise TraceLookupError(self._not_kept(name, "value", s.value))
        return s.value.values.clone()

    def grad(self, name: str) -> torch.Tensor | None:
        """The gradient that reached ``name`` in the traced backward passes, summed over passes.

        A ``.grad`` the tensor held before the trace is not counted. Returns None when no traced
        backward pass reached the tensor.
        """
        s = self.step(name)
        grads = self._gradients_of(s)
        if not grads:
            return None
        kept = [g.values for g in grads if g.values is not None]
        if len(kept) < len(grads):
            raise TraceLookupError(self._not_kept(name, "gradient", grads[0]))
        total = kept[0].clone()
        for values in kept[1:]:
            total = total + values
        return total

    def _gradients_of(self, s: ForwardStep) -> list[TensorSummary]:
        """Per-pass gradients that reached step ``s``: one per node run or capture."""
        out = []
        for b in self.backward_steps:
            if b.kind == "inner":
                continue  # a node inside a composite op: its gradient is not the op's output's
            if b.forward_step == s.step and b.grad_in is not None:
                out.append(b.grad_in)
            out.extend(e.grad for e in b.other_outputs if e.step == s.step and e.grad is not None)
        return out

    def _unknown(self, name: str) -> str:
        names = self.names
        if not names:
            return f"gradtrace: no tensor named {name!r}: this trace recorded no tensors."
        close = difflib.get_close_matches(name, names, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        shown = ", ".join(map(repr, names[:12])) + (", ..." if len(names) > 12 else "")
        return f"gradtrace: no tensor named {name!r} in this trace.{hint} Names: {shown}."

    def _not_kept(self, name: str, what: str, summary: TensorSummary) -> str:
        if self.values == "none":
            return (f"gradtrace: the {what} of {name!r} was not kept: this trace ran with "
                    f"values=\"none\" (shapes only). Trace with trace() to keep values.")
        return (
            f"gradtrace: the {what} of {name!r} has {summary.numel} elements and only its summary "
            f"was kept. Trace with trace(values=\"full\") to keep whole "
            f"tensors."
        )

    # -- graph --------------------------------------------------------------------------------
    def graph(self, **options: Any) -> Any:
        """The graph as a ``graphviz.Digraph``: tensors with values and gradients, ops, modules.

        Options (see :func:`gradtrace.views.dot.to_dot`): ``group_modules=True``,
        ``collapse="auto"`` (True, False, or module paths such as ``["model.fc1"]``),
        ``depth=None``, ``hide_constants=False``, ``rankdir="TB"`` (or ``"LR"``),
        ``max_nodes=300``, ``legend=True``. In a notebook it displays as SVG; ``.source`` is DOT.
        """
        from gradtrace.views.dot import to_dot

        return to_dot(self, **options)

    def save(self, path: str | os.PathLike[str], **options: Any) -> Path:
        """Write the graph or report to ``path`` by suffix: .svg, .png, .dot, .html or .txt.

        ``options`` are those of :meth:`graph`. Returns the path written.
        """
        from gradtrace.views.files import save

        return save(self, path, **options)

    # -- step by step -------------------------------------------------------------------------
    def explain(self, name: str | int, *, of: str | int | None = None) -> Explanation:
        """The chain rule for ``∂of/∂name``: every path back from the output, the product of the
        local derivatives along each, and their sum (``of``: the last backward pass's root).

        Prints as text; in a notebook it shows as HTML. See :mod:`gradtrace.teaching.explain`.
        """
        from gradtrace.teaching.explain import explain

        return explain(self, name, of=of)

    def compare(self, grads: Mapping[str, Any] | None = None, /, **named: Any) -> pandas.DataFrame:
        """Check gradients derived by hand: ``t.compare(w=dw, b=db)`` (or a dict, for names
        such as ``"fc1.weight"``). One row per name: ``exact``, ``close`` (``torch.allclose``),
        ``max_diff``, ``worst`` (its index) and a ``note`` when a row could not be compared.
        See :mod:`gradtrace.teaching.compare`.
        """
        from gradtrace.teaching.compare import compare

        return compare(self, {**(grads or {}), **named})

    def stepper(self) -> Stepper:
        """A walk through the forward, then the backward steps (Previous/Next in a notebook):
        each step's node in the graph, its values and the chain rule. See
        :mod:`gradtrace.views.stepper`.
        """
        from gradtrace.views.stepper import Stepper

        return Stepper(self)

    def exercise(self, names: list[str] | None = None) -> Exercise:
        """The graph and forward values with the gradients hidden until revealed: check a hand
        calculation of ``names`` (default: the leaves that require grad). See
        :mod:`gradtrace.teaching.exercise`.
        """
        from gradtrace.teaching.exercise import Exercise

        return Exercise(self, names)

    # -- display ------------------------------------------------------------------------------
    def __str__(self) -> str:
        from gradtrace.views.text import to_text

        return to_text(self)

    def __repr__(self) -> str:
        return (
            f"<Trace: {len(self.steps)} forward steps, {len(self.passes)} backward passes, "
            f"{len(self.backward_steps)} backward steps>"
        )

    def _repr_mimebundle_(
        self, include: Any = None, exclude: Any = None, **kwargs: Any
    ) -> dict[str, str]:
        from gradtrace.views.display import TraceView

        return TraceView(self)._repr_mimebundle_(include, exclude)

