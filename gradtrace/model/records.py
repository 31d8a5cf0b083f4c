"""The records a Trace is made of: tensor summaries, forward and backward steps, passes.

Each is a frozen dataclass of numbers, strings and small CPU tensor copies, never live user
tensors or ``grad_fn`` objects.

Example:
    >>> import torch
    >>> s = TensorSummary.of(torch.tensor([1.0, -2.0]))
    >>> (s.shape, s.min, s.max)
    ((2,), -2.0, 1.0)
"""

from __future__ import annotations

import functools
from dataclasses import MISSING, dataclass, field, fields
from typing import Any, TypeVar

import torch

from gradtrace.model.stats import (
    Stats,
    dtype_name,
    exact_int_stats,
    has_dense_values,
    host_stats,
    stats_of,
)

__all__ = [
    "Stats",
    "TensorSummary",
    "ForwardStep",
    "GradientEdge",
    "BackwardStep",
    "BackwardPass",
    "Event",
    "Settings",
    "LeafGrad",
    "TraceRecords",
    "make",
]

_R = TypeVar("_R")


# NOTE [records without a __dict__]
# A transformer's Trace holds about 26,000 of these records once read. With a ``__dict__`` each
# they were as many more objects for the garbage collector to walk on every full collection,
# and a third of a Trace's memory in dicts. The records a Trace has thousands of are slotted;
# :func:`make` fills their slots directly. They pickle as a dict of their fields, as they did
# with a ``__dict__``, so a ``.gtrace`` file saved before loads the same.


def _record_state(self: Any) -> dict[str, Any]:
    names = _field_names.get(type(self))
    if names is None:
        names = _field_names[type(self)] = tuple(f.name for f in fields(self))
    return {n: getattr(self, n) for n in names}


def _set_record_state(self: Any, state: dict[str, Any]) -> None:
    for name, value in state.items():
        object.__setattr__(self, name, value)


_field_names: dict[type, tuple[str, ...]] = {}


def _statistic(column: int, doc: str) -> Any:
    """A :class:`TensorSummary` property reading one column of its statistics: those it holds
    straight from their slots (one Python call, not two), the others worked out once."""
    return property(lambda self: (self.stats or self._worked_out or self._stats)[column],
                    doc=doc)


@dataclass(frozen=True, eq=False, slots=True)
class TensorSummary:
    """What gradtrace keeps of one tensor: its metadata, statistics, and a copy when small.

    ``values`` is a CPU copy of the whole tensor when it was small enough (or full values were
    asked for), else None. ``stats`` holds the statistics of a big tensor; for a kept one they
    are worked out from ``values`` when first read. Read them as ``min``, ``max``, ``mean``,
    ``norm`` (over finite elements), ``nan`` and ``inf`` (counts).
    """

    shape: tuple[int, ...]
    dtype: str
    device: str = "cpu"
    values: torch.Tensor | None = None
    stats: Stats | None = None
    # the statistics of ``values``, worked out when first read (not pickled)
    _worked_out: Stats | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def _stats(self) -> Stats:
        if self.stats is not None:
            return self.stats
        if self._worked_out is not None:
            return self._worked_out
        if self.values is None:
            return Stats()
        # NumPy, for float, bool and small integer copies: several times faster than torch
        fast = host_stats(self.values)
        if fast is None:
            fast = exact_int_stats(self.values)
        worked_out = stats_of(self.values) if fast is None else fast
        _set_worked_out(self, worked_out)
        return worked_out

    min = _statistic(0, "Smallest finite element.")
    max = _statistic(1, "Largest finite element.")
    mean = _statistic(2, "Mean of the finite elements.")
    norm = _statistic(3, "L2 norm of the finite elements.")
    nan = _statistic(4, "How many elements are NaN.")
    inf = _statistic(5, "How many elements are infinite.")

    @property
    def statistics(self) -> Stats:
        """``min``, ``max``, ``mean``, ``norm``, ``nan`` and ``inf`` at once, as one row (a table
        of many summaries reads each once)."""
        return self.stats or self._worked_out or self._stats

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def finite(self) -> bool:
        return bool(self.nan == 0 and self.inf == 0)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TensorSummary):
            return NotImplemented
        mine, theirs = self.values, other.values
        same_values = (mine is None and theirs is None) or (
            mine is not None and theirs is not None and _same(mine, theirs))
        return (self.shape, self.dtype, self.device) == (other.shape, other.dtype, other.device) \
            and same_values and self._stats == other._stats

    __hash__ = None  # type: ignore[assignment]

    def __getstate__(self) -> dict[str, Any]:
        state = _record_state(self)
        del state["_worked_out"]  # worked out again when read
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state.pop("_stats", None)  # in a Trace pickled before records were slotted
        _set_record_state(self, {**_defaults_of(TensorSummary), **state})

    @classmethod
    def of(cls, tensor: torch.Tensor, *, keep: bool = True) -> TensorSummary:
        """Summarise a tensor now: a CPU copy of its values when ``keep`` (and they can be read),
        else its statistics. The recorder batches this work (:mod:`gradtrace.capture.summaries`).
        """
        with torch._C.DisableTorchFunction(), torch.no_grad():
            t = tensor.detach()
            copy = keep and has_dense_values(t)
            values = (t.clone() if t.device.type == "cpu" else t.reshape(-1).cpu().view(t.shape)
                      ) if copy else None
            return make(cls, shape=tuple(t.shape), dtype=dtype_name(t.dtype),
                        device=str(t.device), values=values, stats=None if copy else stats_of(t))


@dataclass(frozen=True, slots=True)
class ForwardStep:
    """One tensor made (or first used) by the traced code.

    ``origin`` says how it came to be: ``"op"`` (a torch call, factories such as ``torch.tensor``
    included), ``"function"`` (a custom ``torch.autograd.Function``), ``"input"`` (a tensor that
    existed before the trace), ``"parameter"`` or ``"buffer"`` (of an ``nn.Module``), or
    ``"update"`` (a new version made by an optimizer step, ``op`` naming it: ``"SGD.step"``).
    ``inputs`` are the step numbers of the tensors the op read; ``tensor_id`` identifies the
    tensor object, shared by its versions (the steps that modified it in place or updated it;
    0: unknown, as in a step built by hand); ``grad_mode`` is False for an op run
    under ``torch.no_grad()``. ``literals`` are the op's positional arguments in the order of the
    maths (``2 - x`` gives ``(2, None)``): a Python number or tuple of ints (``dim``), or None
    where a tensor (or anything else) was passed; ``keywords`` the numbers passed by name
    (``negative_slope=0.1``, ``dim=(0, 1)``).
    """

    step: int
    name: str
    op: str
    inputs: tuple[int, ...]
    value: TensorSummary
    grad_fn: str | None = None
    requires_grad: bool = False
    is_leaf: bool = True
    origin: str = "op"
    named: bool = True
    tensor_id: int = 0
    line: int | None = None
    source: str | None = None
    module: str | None = None
    retained: bool = False
    grad_mode: bool = True
    literals: tuple[float | int | bool | tuple[int, ...] | None, ...] = ()
    keywords: tuple[tuple[str, float | int | bool | tuple[int, ...]], ...] = ()

    __getstate__, __setstate__ = _record_state, _set_record_state


@dataclass(frozen=True, slots=True)
class GradientEdge:
    """What one backward node sent along one edge: to forward step ``step`` (None: untraced)."""

    step: int | None
    name: str
    grad: TensorSummary | None

    __getstate__, __setstate__ = _record_state, _set_record_state


@dataclass(frozen=True, slots=True)
class BackwardStep:
    """One autograd node run, in the order the engine ran it.

    ``kind`` is ``"node"`` (a function's backward), ``"inner"`` (a node inside a composite op,
    such as ``LogSoftmaxBackward0`` inside ``cross_entropy``), ``"accumulate"`` (``AccumulateGrad``
    adding to a leaf's ``.grad``), ``"untraced"`` (a node of a graph built before the trace),
    ``"capture"`` (the gradient ``torch.autograd.grad`` returned for one of its inputs) or
    ``"all_reduce"`` (DDP's synchronisation of one gradient bucket across ranks, in the order it
    completed: ``node`` is ``"all_reduce (bucket k)"``, ``local`` the gradient of each parameter
    on this rank before it, ``grad_out`` the synchronised one after it). ``forward_step`` is the
    step whose tensor the node belongs to and ``grad_in`` the gradient that tensor received; a
    node with several outputs (``split``, ``max(dim)``) lists what its other outputs received in
    ``other_outputs``.
    """

    step: int
    backward_pass: int
    node: str
    forward_step: int | None
    tensor: str
    grad_in: TensorSummary | None
    grad_out: tuple[GradientEdge, ...] = ()
    kind: str = "node"
    grad_before: TensorSummary | None = None
    grad_after: TensorSummary | None = None
    other_outputs: tuple[GradientEdge, ...] = ()
    local: tuple[GradientEdge, ...] = ()

    __getstate__, __setstate__ = _record_state, _set_record_state


@dataclass(frozen=True)
class BackwardPass:
    """One call that ran autograd: ``backward``, ``autograd.grad`` or ``autograd.backward``."""

    index: int
    call: str
    roots: tuple[int, ...] = ()
    line: int | None = None
    source: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Event:
    """Something the recorder saw happen that a diagnostic may explain.

    ``kind`` is ``"grad_read"`` (the code read ``.grad`` of a non-leaf that was not retained),
    ``"unused_parameter"`` (a parameter of a module that ran was never used),
    ``"all_reduce_unobserved"`` (a ``DistributedDataParallel`` module, ``name``, whose
    all-reduce gradtrace could not observe: ``data["why"]``), or
    ``"function_check"`` (a custom Function's backward compared with finite differences; ``data``
    holds ``input``, ``element``, ``analytic``, ``numeric`` or ``error``).
    """

    kind: str
    step: int | None = None
    line: int | None = None
    name: str = ""
    data: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    """Options of the trace that the diagnostics read.

    ``vanishing_below`` is a weight's ‖grad‖/‖weight‖ relative to the largest in its backward
    pass; ``exploding_above`` the growth of the weights' gradient norm over an earlier pass;
    ``update_ratio_below`` / ``_above`` bound ‖Δp‖ / ‖p before the step‖ of weight matrices.
    """

    ignore: tuple[str, ...] = ()
    vanishing_below: float = 1e-5
    exploding_above: float = 100.0
    update_ratio_below: float = 1e-7
    update_ratio_above: float = 1.0


@dataclass(frozen=True, slots=True)
class LeafGrad:
    """What a leaf's ``.grad`` held when the traced code ended (None: no ``.grad``); ``step`` is
    the leaf's forward step where its ``AccumulateGrad`` was first hooked."""

    step: int
    grad: TensorSummary | None

    __getstate__, __setstate__ = _record_state, _set_record_state


@dataclass(frozen=True)
class TraceRecords:
    """Everything one trace recorded, as plain records: what a :class:`~gradtrace.Trace` reads.

    ``error`` is the error that stopped the traced code (as text) and ``error_line`` its line;
    ``values`` what was kept of each tensor (``"summary"``, ``"full"`` or ``"none"``);
    ``rank`` and ``world_size`` the process's place under ``torch.distributed`` (0 and 1 without).
    """

    steps: tuple[ForwardStep, ...] = ()
    backward_steps: tuple[BackwardStep, ...] = ()
    passes: tuple[BackwardPass, ...] = ()
    error: str | None = None
    error_line: int | None = None
    values: str = "summary"
    events: tuple[Event, ...] = ()
    settings: Settings = field(default_factory=Settings)
    leaf_grads: tuple[LeafGrad, ...] = ()
    rank: int = 0
    world_size: int = 1


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal values, NaN equal to NaN (a record holding NaN equals its unpickled copy)."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if not (a.is_floating_point() or a.is_complex()):
        return torch.equal(a, b)
    return bool(((a == b) | (torch.isnan(a) & torch.isnan(b))).all())


def make(cls: type[_R], **values: Any) -> _R:
    """``cls(**values)`` for a record class, without the frozen dataclass ``__init__``.

    That ``__init__`` sets each field through ``object.__setattr__``; a Trace of thousands of
    steps is built several times faster by filling a slotted record's slots at once (see NOTE
    [records without a __dict__]), or a record's ``__dict__``. Fields not given take their
    defaults, as in ``__init__``.

    Example:
        >>> make(GradientEdge, step=1, name="x", grad=None) == GradientEdge(1, "x", None)
        True
    """
    maker = _makers.get(cls)
    if maker is None:
        maker = _makers[cls] = _maker(cls)
    return maker(**values)  # type: ignore[no-any-return]


_makers: dict[type, Any] = {}


@functools.cache
def _defaults_of(cls: type) -> dict[str, Any]:
    """The default of each field of the record class ``cls`` that has one (read, never
    changed: a loaded Trace asks once per summary)."""
    if any(f.default_factory is not MISSING for f in fields(cls)):
        raise TypeError(f"{cls.__name__} has a field made by a factory: use its __init__")
    return {f.name: f.default for f in fields(cls) if f.default is not MISSING}


def _maker(cls: type) -> Any:
    """A function that makes a ``cls`` from its fields by keyword."""
    defaults = _defaults_of(cls)
    if "__slots__" not in cls.__dict__:
        def fill(**values: Any) -> Any:
            record: Any = object.__new__(cls)
            record.__dict__.update(defaults)
            record.__dict__.update(values)
            return record
        return fill
    # a function with one parameter per field, each set through its slot's descriptor
    names = [f.name for f in fields(cls)]
    scope: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    scope.update((f"_default_{n}", v) for n, v in defaults.items())
    scope.update((f"_set_{n}", cls.__dict__[n].__set__) for n in names)
    parameters = ", ".join(n if n not in defaults else f"{n}=_default_{n}" for n in names)
    body = "".join(f"    _set_{n}(record, {n})\n" for n in names)
    exec(f"def make_{cls.__name__}(*, {parameters}):\n    record = _new(_cls)\n{body}"
         "    return record\n", scope)
    return scope[f"make_{cls.__name__}"]


def _set_worked_out(summary: TensorSummary, stats: Stats) -> None:
    _WORKED_OUT.__set__(summary, stats)  # past the frozen dataclass's __setattr__


_WORKED_OUT: Any = TensorSummary.__dict__["_worked_out"]
