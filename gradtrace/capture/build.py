"""Turn a finished recorder's raw records into the records of a :class:`~gradtrace.Trace`.

This is the one place that runs after the traced code: it summarises every kept tensor in one
batch when the trace stops, and, when the Trace is first read, gives temporaries their derived
names (``cos(x_1)``) and resolves step numbers to names.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gradtrace.capture import process
from gradtrace.model.records import (
    BackwardPass,
    BackwardStep,
    Event,
    ForwardStep,
    GradientEdge,
    LeafGrad,
    Settings,
    TensorSummary,
    TraceRecords,
    make,
)

if TYPE_CHECKING:
    from gradtrace.capture.backward import RawBackward, RawEdge, RawPass
    from gradtrace.capture.recorder import RawEvent, RawStep, Recorder

__all__ = ["finish", "derived_name"]

_MAX_NAME = 32


def derived_name(op: str, parts: list[int | str], names: dict[int, str], named: set[int]) -> str:
    """A readable name for a temporary: ``op(arg, ...)``, shortening nested temporaries to ``…``.

    Example:
        >>> derived_name("cos", [1], {1: "x_1"}, {1})
        'cos(x_1)'
        >>> derived_name("pow", [1, "2"], {1: "z"}, {1})
        'pow(z, 2)'
    """
    def render(short: bool) -> str:
        args = [p if isinstance(p, str) else ("…" if short and p not in named else names[p])
                for p in parts]
        return f"{op}({', '.join(args)})"

    full = render(False)
    if len(full) <= _MAX_NAME:
        return full
    short = render(True)
    return short if len(short) <= _MAX_NAME else f"{op}(…)"


def finish(rec: Recorder, error: BaseException | None = None) -> Callable[[], TraceRecords]:
    """Summarise a stopped recorder's values now (no tensor is held after this); returns the
    function that makes the Trace's records (see :meth:`gradtrace.Trace.later`)."""
    summaries = rec.keeper.finish()
    for s in rec.steps:  # a leaf's flag may have been set after it was made
        if s.ref is not None:
            t = s.ref()
            if t is not None:
                s.requires_grad = t.requires_grad
            s.ref = None
    raw = _Raw(rec.steps, rec.backward.steps, rec.backward.passes, rec.events, rec.values,
               rec.settings, _describe(error), _error_line(error, rec.files), rec.leaf_grads,
               rec.place)
    return lambda: _collecting_less(raw, summaries)


def _collecting_less(raw: _Raw, summaries: list[TensorSummary]) -> TraceRecords:
    """Build the records with the collector's young threshold raised: they all survive, and
    full collections triggered by them would walk every object in the process (see
    ``process.collect_less``)."""
    process.collect_less()
    try:
        return _build(raw, summaries)
    finally:
        process.collect_as_before()


@dataclass
class _Raw:
    """What a built Trace is made from: the recorder's raw records, without the recorder."""

    steps: list[RawStep]
    backward: list[RawBackward]
    passes: list[RawPass]
    events: list[RawEvent]
    values: str
    settings: Settings
    error: str | None
    error_line: int | None
    leaf_grads: list[tuple[int, int | None]]
    place: tuple[int, int]


def _build(rec: _Raw, summaries: list[TensorSummary]) -> TraceRecords:
    names: dict[int, str] = {}
    named: set[int] = set()
    last_version: dict[int, int] = {}  # tensor no. -> its latest step so far
    holder: dict[str, int] = {}  # name -> the tensor it was given to last
    for s in rec.steps:
        # a .grad made before the trace started may be read before its owner is first used
        owner = None if s.grad_of is None or s.name is not None else \
            names.get(s.grad_of) or rec.steps[s.grad_of - 1].name
        if owner is not None:
            names[s.index] = f"{owner}.grad"
            named.add(s.index)
        elif s.name is not None or s.hint is not None:
            names[s.index] = s.name or s.hint  # type: ignore[assignment]
            named.add(s.index)
        elif s.op.endswith("_") or s.op == "setitem" or s.origin == "update":
            prev = last_version.get(s.tensor_id)
            if prev and holder.get(names[prev]) == s.tensor_id:
                # an in-place op keeps the name of the tensor it modified
                names[s.index] = names[prev]
                if prev in named:
                    named.add(s.index)
            elif prev and not s.parts and s.inputs:
                # a base changed through its view after its name went to another tensor
                names[s.index] = f"{names[s.inputs[0]]}._base"
            else:
                names[s.index] = derived_name(s.op, s.parts, names, named)
        else:
            names[s.index] = (derived_name(s.op, s.parts, names, named) if s.op
                              else f"tensor_{s.tensor_id}")
        holder[names[s.index]] = s.tensor_id
        last_version[s.tensor_id] = s.index

    def summary(i: int | None) -> TensorSummary | None:
        return None if i is None else summaries[i]

    derived = _derived_edges(rec.backward)
    steps = tuple(_forward_step(s, names, named, summaries[s.value]) for s in rec.steps)
    backward = tuple(
        make(
            BackwardStep,
            step=i, backward_pass=b.backward_pass, node=b.node, forward_step=b.owner,
            tensor=names.get(b.owner, "") if b.owner is not None else "",
            grad_in=summary(b.grad_in),
            grad_out=tuple(make(GradientEdge, step=e.step,
                                name=names[e.step] if e.step is not None else e.label,
                                grad=summary(_edge_gradient(e, b.backward_pass, derived)))
                           for e in b.edges),
            kind=b.kind, grad_before=summary(b.before), grad_after=summary(b.after),
            other_outputs=tuple(make(GradientEdge, step=st, name=names.get(st, ""),
                                     grad=summary(g))
                                for st, g in b.others),
            local=tuple(make(GradientEdge, step=e.step, name=names.get(e.step, e.label)
                             if e.step is not None else e.label, grad=summary(e.grad))
                        for e in b.local),
        )
        for i, b in enumerate(rec.backward, 1)
    )
    passes = tuple(
        BackwardPass(p.index, p.call, tuple(p.roots), p.line, p.source, p.error)
        for p in rec.passes
    )
    events = tuple(Event(e.kind, e.step, e.line, names.get(e.step, "") if e.step else e.name,
                         e.data) for e in rec.events)
    leaf_grads = tuple(LeafGrad(step, summary(g)) for step, g in rec.leaf_grads)
    return TraceRecords(steps=steps, backward_steps=backward, passes=passes, error=rec.error,
                        error_line=rec.error_line, values=rec.values, events=events,
                        settings=rec.settings, leaf_grads=leaf_grads, rank=rec.place[0],
                        world_size=rec.place[1])


def _edge_gradient(edge: RawEdge, backward_pass: int,
                   derived: dict[tuple[int, Any], int | None]) -> int | None:
    """The gradient an edge carried: its own, or for one not kept, what its target received."""
    if edge.grad is None and edge.target is not None:
        return derived.get((backward_pass, edge.target))
    return edge.grad


def _derived_edges(backward: list[RawBackward]) -> dict[tuple[int, Any], int | None]:
    """(pass, target) -> the gradient an edge not kept on its own carried: what the target (a
    step, or an inner node's key) received, when it was the only edge into the target that ran
    in that pass."""
    received: dict[tuple[int, Any], int | None] = {}
    for b in backward:
        if b.owner is not None and b.kind in ("accumulate", "capture", "node"):
            received.setdefault((b.backward_pass, b.owner), b.grad_in)
        elif b.key is not None:
            received.setdefault((b.backward_pass, b.key), b.grad_in)
    edges_in: dict[tuple[int, Any], int] = {}
    for b in backward:
        for e in b.edges:
            target = e.step if e.step is not None else e.target
            if target is not None:
                edges_in[(b.backward_pass, target)] = edges_in.get((b.backward_pass, target), 0) + 1
    return {k: v for k, v in received.items() if edges_in.get(k) == 1}


def _forward_step(s: RawStep, names: dict[int, str], named: set[int],
                  value: TensorSummary) -> ForwardStep:
    return make(
        ForwardStep,
        step=s.index, name=names[s.index], op=s.op or s.origin, inputs=tuple(s.inputs),
        value=value, grad_fn=s.grad_fn, requires_grad=s.requires_grad, is_leaf=s.is_leaf,
        origin=s.origin, named=s.index in named, tensor_id=s.tensor_id, line=s.line,
        source=s.source, module=s.module, retained=s.retained, grad_mode=s.grad_mode,
        literals=s.literals, keywords=s.keywords,
    )


def _describe(error: BaseException | None) -> str | None:
    if error is None:
        return None
    text = str(error).strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _error_line(error: BaseException | None, files: frozenset[str]) -> int | None:
    if error is None:
        return None
    line = None
    for frame in traceback.extract_tb(error.__traceback__):
        if frame.filename in files:
            line = frame.lineno
    return line
