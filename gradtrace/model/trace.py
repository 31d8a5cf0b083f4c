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
from gradtrace.model.gradients import Gradients
from gradtrace.model.ledger import Ledger
from gradtrace.model.records import (
    BackwardPass,
    BackwardStep,
    Event,
    ForwardStep,
    GradientEdge,
    LeafGrad,
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
    from gradtrace.views.dataframes import StepColumns
    from gradtrace.views.explorer import Explorer
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
    ``forward``, ``backward``, ``edges`` and ``tensors`` show them as pandas DataFrames,
    ``warnings`` lists what looks wrong, and ``str(trace)`` is the plain-text report.
    ``Trace(steps=...)`` builds one by hand; ``Trace.later(build)`` one whose records
    ``build()`` makes when first read.
    """

    def __init__(self, steps: tuple[ForwardStep, ...] = (),
                 backward_steps: tuple[BackwardStep, ...] = (),
                 passes: tuple[BackwardPass, ...] = (), error: str | None = None,
                 error_line: int | None = None, values: str = "summary",
                 events: tuple[Event, ...] = (), settings: Settings | None = None,
                 leaf_grads: tuple[LeafGrad, ...] = (), rank: int = 0,
                 world_size: int = 1) -> None:
        self._records: TraceRecords | None = TraceRecords(
            steps, backward_steps, passes, error, error_line, values, events,
            settings or Settings(), leaf_grads, rank, world_size)
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
    def leaf_grads(self) -> tuple[LeafGrad, ...]:
        """What each leaf's ``.grad`` held when the traced code ended."""
        return self.records.leaf_grads

    @property
    def rank(self) -> int:
        """This process's rank under ``torch.distributed`` (0 without it)."""
        return self.records.rank

    @property
    def world_size(self) -> int:
        """How many processes ``torch.distributed`` ran (1 without it)."""
        return self.records.world_size

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
        """One row per forward step: step, name, version, op, inputs, shape, numel, dtype,
        value_min/max/mean/norm/nan/inf, grad_min/max/mean/norm/nan/inf, grad_fn, line, ...

        Numbers are typed (float64 statistics, NaN where unknown; int counts; shape tuples);
        ``grad_*`` is the gradient that reached the step, summed over the backward passes.
        See :func:`gradtrace.views.dataframes.forward_frame`.
        """
        from gradtrace.views.dataframes import forward_frame

        return forward_frame(self)

    @cached_property
    def backward(self) -> pandas.DataFrame:
        """One row per backward step in execution order: step, pass, node, tensor, forward_step,
        version, kind, shape, numel, dtype, value_*, and grad_in_min/max/mean/norm/nan/inf for
        the gradient the node received. See :func:`gradtrace.views.dataframes.backward_frame`.
        """
        from gradtrace.views.dataframes import backward_frame

        return backward_frame(self)

    @cached_property
    def edges(self) -> pandas.DataFrame:
        """One row per gradient edge a backward node sent along: step, pass, node, from, to,
        to_step, grad_min/max/mean/norm/nan/inf. See
        :func:`gradtrace.views.dataframes.edges_frame`.
        """
        from gradtrace.views.dataframes import edges_frame

        return edges_frame(self)

    @cached_property
    def tensors(self) -> pandas.DataFrame:
        """One row per name (its latest version): name, step, version, shape, numel, dtype,
        value_*, grad_* (summed over the passes), is_leaf, requires_grad, origin. See
        :func:`gradtrace.views.dataframes.tensors_frame`.
        """
        from gradtrace.views.dataframes import tensors_frame

        return tensors_frame(self)

    @cached_property
    def _step_columns(self) -> StepColumns:
        """The columns of every forward step that ``forward``, ``tensors`` and ``backward``
        share (statistics of values and gradients, shapes, versions): worked out once."""
        from gradtrace.views.dataframes import StepColumns

        return StepColumns(self)

    @cached_property
    def updates(self) -> pandas.DataFrame:
        """One row per optimizer step and parameter: call, optimizer, parameter, step, pass,
        loss, grad_norm, update_norm (‖Δp‖), value_norm (‖p‖ after), update_ratio, line."""
        from gradtrace.views.dataframes import updates_frame

        return updates_frame(self)

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

    def versions(self, name: str) -> list[ForwardStep]:
        """Every version of ``name`` in order: each rebinding, in-place op or optimizer step
        that made a new one (version 1 is the first)."""
        found = [s for s in self.steps if s.name == name]
        if not found:
            raise TraceLookupError(self._unknown(name))
        return found

    def value(self, name: str, *, version: int | None = None) -> torch.Tensor:
        """The value of ``name`` as a CPU tensor: its latest version, or version ``version``
        (1-based, see :meth:`versions`)."""
        if version is None:
            s = self.step(name)
        else:
            found = self.versions(name)
            if not 1 <= version <= len(found):
                raise TraceLookupError(f"gradtrace: {name!r} has {len(found)} version"
                                       f"{'s' if len(found) != 1 else ''}, not {version}.")
            s = found[version - 1]
        if s.value.values is None:
            raise TraceLookupError(self._not_kept(name, "value", s.value, s))
        return s.value.values.clone()

    def grad(self, name: str, *, backward: int | None = None,
             local: bool = False) -> torch.Tensor | None:
        """What ``name``'s ``.grad`` held when the traced code ended, counting only what arrived
        inside the trace (see :mod:`gradtrace.model.gradients`); with ``backward=k``, what
        reached it in backward pass ``k`` alone (1-based; ``torch.autograd.grad`` passes too).

        Under ``DistributedDataParallel`` that is the synchronised gradient (the mean across
        ranks); ``local=True`` gives what this rank's own backward passes computed before the
        all-reduce (summed over passes since the last reset, as under ``no_sync()``).

        Returns None when no traced pass reached the tensor, or its ``.grad`` was reset to None.
        """
        s = self.step(name)
        if local:
            found = self.gradients.local(s.step)
            return None if found is None else self._values_of(name, found, s)
        if backward is not None:
            if not 1 <= backward <= len(self.passes):
                raise ValueError(f"gradtrace: backward={backward}, but this trace ran "
                                 f"{len(self.passes)} backward pass(es), numbered from 1")
            return self._sum(name, [a.grad for a in self.gradients.arrivals(s.step)
                                    if a.backward_pass == backward])
        total = self.gradients.total(s.step)
        return None if total is None else self._values_of(name, total, s)

    @cached_property
    def ledger(self) -> Ledger:
        """What each ``.grad`` held whenever an update used it (:mod:`~gradtrace.model.ledger`)."""
        return Ledger(self)

    @cached_property
    def gradients(self) -> Gradients:
        """What reached each forward step, and what it shows (:mod:`~gradtrace.model.gradients`)."""
        return Gradients(self)

    def _values_of(self, name: str, summary: TensorSummary,
                   step: ForwardStep | None = None) -> torch.Tensor:
        if summary.values is None:
            raise TraceLookupError(self._not_kept(name, "gradient", summary, step))
        return summary.values.clone()

    def _sum(self, name: str, grads: list[TensorSummary]) -> torch.Tensor | None:
        if not grads:
            return None
        total = self._values_of(name, grads[0])
        for g in grads[1:]:
            total = total + self._values_of(name, g)
        return total

    def _unknown(self, name: str) -> str:
        names = self.names
        if not names:
            return f"gradtrace: no tensor named {name!r}: this trace recorded no tensors."
        close = difflib.get_close_matches(name, names, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        shown = ", ".join(map(repr, names[:12])) + (", ..." if len(names) > 12 else "")
        return f"gradtrace: no tensor named {name!r} in this trace.{hint} Names: {shown}."

    def _not_kept(self, name: str, what: str, summary: TensorSummary,
                  step: ForwardStep | None = None) -> str:
        if self.values == "none":
            return (f"gradtrace: the {what} of {name!r} was not kept: this trace ran with "
                    f"values=\"none\" (shapes only). Trace with trace() to keep values.")
        which = ""
        if step is not None:
            versions = [s.step for s in self.versions(name)]
            line = f", line {step.line}" if step.line is not None else ""
            which = f" (version {versions.index(step.step) + 1} of {len(versions)}{line})"
        return (
            f"gradtrace: the {what} of {name!r}{which} has {summary.numel} elements and only its "
            f"summary was kept: values=\"summary\" copies tensors of up to 4,096 elements, the "
            f"newest first, and the latest of each named tensor up to 16,384. Trace with "
            f"trace(values=\"full\") (%%gradtrace --values full) to keep whole tensors."
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

    def explore(self, **options: Any) -> Explorer:
        """The graph to explore: pan, zoom, search, a panel of each tensor's rows and gradients.

        Shows itself in a notebook; ``.save("graph.html")`` writes it as a page. Options are
        those of :meth:`graph` but ``rankdir`` and ``legend``. See :mod:`gradtrace.views.explorer`.
        """
        from gradtrace.views.explorer import Explorer

        return Explorer(self, **options)

    def save(self, path: str | os.PathLike[str], **options: Any) -> Path:
        """Write the graph or report to ``path`` by suffix: .svg, .png, .dot, .html or .txt;
        ``.gtrace`` writes the Trace itself, for :func:`gradtrace.load`.

        ``options`` are those of :meth:`graph`. Returns the path written.
        """
        if str(path).lower().endswith(".gtrace"):
            from gradtrace.model.saved import dump

            return dump(self, path)
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
        from gradtrace.views.display import DEFAULT_MAX_ROWS, TraceView, mime_bundle

        view = TraceView(self, max_rows=DEFAULT_MAX_ROWS)
        # with the HTML shown, the text is its one-line fallback: the report is not built twice
        return mime_bundle(view.to_text, view.to_html, include, exclude, short=self.__repr__)

