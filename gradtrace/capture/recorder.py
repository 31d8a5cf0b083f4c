"""The recorder: sees every torch call of the traced code and hands over plain records.

A ``TorchFunctionMode`` sees each user-level call (operators, methods, ``torch.*``,
``torch.nn.functional.*``). For each tensor it makes, the recorder keeps a small raw record and a
copy or detached reference of the value, hooks the new autograd nodes (see
:mod:`gradtrace.capture.backward`), and tells the :class:`~gradtrace.capture.naming.Namer` where
the user's code is. Everything is summarised and named once, in :meth:`Recorder.stop`.
"""

from __future__ import annotations

import sys
import types
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch
from torch.overrides import TorchFunctionMode

from gradtrace.capture import process
from gradtrace.capture.allreduce import UNOBSERVED, AllReduceRecorder, distributed_place
from gradtrace.capture.backward import BackwardRecorder, EdgePlan, RawBackward, RawEdge
from gradtrace.capture.build import finish
from gradtrace.capture.compat import compile_time, is_compiling
from gradtrace.capture.frames import LOOP, Locator
from gradtrace.capture.function_check import check_function, copy_arguments
from gradtrace.capture.keeper import Keeper
from gradtrace.capture.modes import ModeWatcher
from gradtrace.capture.modules import ModuleTracker
from gradtrace.capture.naming import Binding, Statement
from gradtrace.capture.ops import OpInfo, op_info
from gradtrace.capture.paths import INDEXED, LEFTOVER, NAMED, find_paths
from gradtrace.capture.summaries import DEFAULT_KEEP_LIMIT
from gradtrace.capture.updates import OptimizerSteps
from gradtrace.capture.usercode import UserCode
from gradtrace.capture.writes import note_write
from gradtrace.model.records import Settings, TraceRecords

__all__ = ["Recorder", "RawStep", "TensorEntry", "PATH", "UNNAMED"]

# NOTE [which name]
# A tensor may be called many things; the best one wins, whenever it is learned:
#   0 PATH     a path from the traced block's variables: a module's parameter
#              (``model.fc1.weight``), an object's attribute (``layers[2].out``: ``self.out = ...``
#              in a method of the object at ``layers[2]``), a variable (``C``), a dict item
#   1 BLOCK    a variable of the traced block (``w`` in the cell, not the callee's ``v``)
#   2 CALLEE   a variable of a function of the user's that the block called (``xmean``)
#   3          a path ending in an index (``parameters[5]``)
#   4 LOOP     a ``for`` statement's variable, or a path through one left over (``p``)
#   UNNAMED    the op and its arguments (``cos(x_1)``), else ``tensor_N``
# Paths are found once, when the trace stops (:mod:`gradtrace.capture.paths`); variables as
# their statements finish.
PATH, UNNAMED = 0, 9
_PATH_RANKS = {NAMED: PATH, INDEXED: LOOP - 1, LEFTOVER: LOOP}

_ACCUMULATE_GRAD = type(torch.ones(1, requires_grad=True).view(1).grad_fn.next_functions[0][0])  # type: ignore[union-attr]
_MAX_UNTRACED_NODES = 4096  # nodes of graphs built before the trace that gradtrace follows


@dataclass(slots=True)
class RawStep:
    index: int
    op: str
    inputs: list[int]
    parts: list[int | str]  # the op's arguments: step numbers, or short literals
    origin: str
    tensor_id: int
    value: int
    grad_fn: str | None
    requires_grad: bool
    is_leaf: bool
    line: int | None
    source: str | None
    module: str | None
    name: str | None = None
    rank: int = UNNAMED  # how good ``name`` is, lower is better (see NOTE [which name])
    hint: str | None = None  # a weaker name: the module whose output this is
    retained: bool = False
    grad_of: int | None = None  # this tensor is the .grad of that step's tensor
    grad_mode: bool = True
    literals: tuple[float | int | bool | tuple[int, ...] | None, ...] = ()
    keywords: tuple[tuple[str, float | int | bool | tuple[int, ...]], ...] = ()
    ref: Any = None  # weakref to a leaf, to read its final requires_grad


class TensorEntry(NamedTuple):
    """What the recorder knows of a tensor it has seen, by ``id``."""

    ref: weakref.ref[torch.Tensor]  # tells the tensor apart from a later one with its id
    step: int  # the step of its latest version
    number: int  # the tensor's number, shared by all its versions
    version: int  # its ``_version`` then: a later write the recorder did not see changes it


class _GradRead(NamedTuple):
    """A ``.grad`` the traced code read: if used later, it is called after its owner."""

    ref: weakref.ref[torch.Tensor]  # the gradient
    owner: torch.Tensor  # the tensor whose ``.grad`` it is


class _HeldAccumulator(NamedTuple):
    ref: weakref.ref[torch.Tensor]  # the leaf
    node: Any  # its AccumulateGrad


@dataclass(slots=True)
class RawEvent:
    kind: str
    step: int | None
    line: int | None
    name: str = ""
    data: dict[str, Any] = field(default_factory=dict)


class _Mode(TorchFunctionMode):
    def __init__(self, recorder: Recorder) -> None:
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        return self.recorder.on_call(func, args, kwargs or {})


class Recorder:
    """Records one stretch of code. ``start()``, run the code, ``stop()``.

    Args:
        files: source files of the user's code: their lines are shown and their variables name
            the tensors.
        retain_grad: call ``retain_grad()`` on non-leaf tensors, so ``z.grad`` works afterwards.
        values: what to keep of each tensor: ``"summary"`` (small tensors whole, the rest as
            statistics), ``"full"`` (every tensor whole) or ``"none"`` (shape and dtype only).
    """

    def __init__(self, files: Iterable[str], *, retain_grad: bool = True,
                 values: str = "summary", keep_limit: int = DEFAULT_KEEP_LIMIT,
                 check: bool = False, settings: Settings | None = None,
                 user_code: UserCode | None = None) -> None:
        self.files = frozenset(files)
        self.check = check
        self.settings = settings or Settings()
        self.events: list[RawEvent] = []
        # custom Function calls to check: (step, class, arguments, keyword arguments)
        self._calls: list[tuple[int, Any, tuple[Any, ...], dict[str, Any]]] = []
        self.retain_grad = retain_grad
        self.values = values  # one of summaries.VALUES, checked by trace()
        self.keeper = Keeper(None if values == "full" else keep_limit, record=values != "none")
        self.backward = BackwardRecorder(self.keeper)
        self.all_reduce = AllReduceRecorder(self.backward)
        self.place = (0, 1)  # (rank, world size) under torch.distributed
        self.steps: list[RawStep] = []
        self.busy = False
        self.locator = Locator(self.files, self._bind, user_code)
        # (step, object, attribute) for each ``obj.attr = tensor`` of the user's code: named by
        # the path to ``obj`` when the trace stops (see NOTE [which name])
        self._owned: list[tuple[int, object, str]] = []
        self._user_classes: dict[type, bool] = {}
        self.modules = ModuleTracker(unnamed_rank=LOOP)
        self.modes = ModeWatcher()
        # by id(tensor); read through _entry_of, which tells a reused id apart
        self._tensors: dict[int, TensorEntry] = {}
        self._tensor_count = 0
        # node key -> [(output_nr, step)] for the nodes of recorded ops. Keys, not nodes, so
        # the trace never keeps a graph alive; not id(node) either, since some torch versions
        # make a new Python object for the same node on each access (see _node_key)
        self._nodes: dict[tuple[int, str], list[tuple[int, int]]] = {}
        self._hooked: set[tuple[int, str]] = set()
        # by id(leaf): its AccumulateGrad, held, so that the very node hooked is the one every
        # later graph of this leaf accumulates through
        self._accumulators: dict[int, _HeldAccumulator] = {}
        self._mode: _Mode | None = None
        self._first_seq = -1
        self._grad_reads: dict[int, _GradRead] = {}  # by id of the gradient read
        self._changed_in_place = False  # since the views were last refreshed
        # target (a leaf's id, or a node's key) -> the edges into it, from every walk so far:
        # an edge alone into its target carries what the target receives, so it is not kept
        # twice (see backward.py); a second edge makes every edge into it keep its own
        self._into: dict[Any, list[EdgePlan]] = {}
        self.optimizer_steps = OptimizerSteps()
        # by id of a ``.data`` alias read by the traced code: writing through it writes its owner
        self._aliases: dict[int, _GradRead] = {}
        self._user_retained: set[int] = set()  # ids of tensors the code called retain_grad() on
        self._grad_read_steps: set[int] = set()  # non-leaf steps whose .grad the code read
        # (step of a leaf, keeper index of its .grad when the trace stopped, or None)
        self.leaf_grads: list[tuple[int, int | None]] = []

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        with torch._C.DisableTorchFunction(), torch.enable_grad():
            probe = torch.zeros(1, requires_grad=True) * 1  # nodes made from now on are ours
            self._first_seq = probe.grad_fn._sequence_nr()  # type: ignore[union-attr]
        self._note_place()
        process.activate(self)
        process.collect_less()  # until the Trace is built (see stop)
        self._mode = _Mode(self)
        try:
            self._mode.__enter__()  # type: ignore[no-untyped-call]
        except BaseException:
            process.deactivate(self)
            process.collect_as_before()
            raise

    def stop(self, error: BaseException | None = None) -> Callable[[], TraceRecords]:
        """Remove every mode, hook and patch and summarise what was kept; returns the function
        that makes the Trace's records (``Trace.later(recorder.stop())``)."""
        try:
            try:
                if self._mode is not None:
                    self._mode.__exit__(None, None, None)  # type: ignore[no-untyped-call]
                    self._mode = None
            finally:
                try:
                    self.all_reduce.close()
                    self._add_all_reduce(len(self.backward.passes))
                    self.leaf_grads = self.backward.final_grads()
                    self.backward.close()
                    self._accumulators.clear()
                finally:
                    process.deactivate(self)
            self.locator.finish_names()
            self._name_by_paths()
            self._owned.clear()
            self._keep_latest()
            self.locator.flush()
            self._note_place()
            for name in self.all_reduce.unobserved:
                self.events.append(RawEvent("all_reduce_unobserved", None, None, name,
                                            {"why": UNOBSERVED}))
            self.optimizer_steps.finish()
            self._note_unused_parameters()
            for step, cls, args, kwargs in self._calls:
                self.events.append(RawEvent("function_check", step, self.steps[step - 1].line,
                                            data=check_function(cls, args, kwargs)))
            return finish(self, error)
        finally:
            process.collect_as_before()

    def _note_place(self) -> None:
        place = distributed_place()
        if place is not None:
            self.place = place

    def _add_all_reduce(self, backward_pass: int) -> None:
        """Turn the buckets DDP synchronised since the last call into backward rows."""
        rows = []
        keep = self.keeper.keep
        with torch._C.DisableTorchFunction():
            buckets = self.all_reduce.take()
        for b in buckets:
            locals_: list[RawEdge] = []
            raw = RawBackward("all_reduce", f"all_reduce (bucket {b.number})", None, backward_pass,
                              local=locals_)
            for ref, local, synced in zip(b.params, b.local, b.synced):
                p = ref()
                with torch._C.DisableTorchFunction():
                    step = self._step_of(p, None, None, None) if p is not None else None
                    locals_.append(RawEdge(step, "", keep(local), None))
                    raw.edges.append(RawEdge(step, "", keep(synced), None))
            rows.append((self._after_accumulation(b.position, raw), raw))
        self.backward.all_reduced(rows)

    def _after_accumulation(self, position: int, raw: RawBackward) -> int:
        """Where an all-reduce row goes: where it completed, but after the ``AccumulateGrad`` rows
        of its parameters (DDP's own hook on that node starts the all-reduce, and may see it
        finish, before gradtrace's hook on the same node records the row)."""
        owners = {e.step for e in raw.edges}
        steps = self.backward.steps
        for i in range(len(steps) - 1, position - 1, -1):
            b = steps[i]
            if b.kind == "accumulate" and b.owner in owners \
                    and b.backward_pass == raw.backward_pass:
                return i + 1
        return position

    def _entry_of(self, t: torch.Tensor) -> TensorEntry | None:
        """The entry of ``t``, if this very tensor was seen (its id may be a dead one's)."""
        entry = self._tensors.get(id(t))
        return entry if entry is not None and entry.ref() is t else None

    def _note_unused_parameters(self) -> None:
        if not any(p.call in ("backward", "autograd.backward") for p in self.backward.passes):
            return
        for origin, name, t in self.modules.named_tensors():
            if origin == "parameter" and t.requires_grad and self._entry_of(t) is None:
                self.events.append(RawEvent("unused_parameter", None, None, name))

    # -- forward ------------------------------------------------------------------------------
    def on_call(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        info = op_info(func)
        if info.noise or self.busy or torch._C._current_graph_task_id() != -1 \
                or is_compiling() or torch._C._are_functorch_transforms_active():
            self._changed_in_place |= info.inplace
            watched = args and not self.busy and info.name in _WATCHED
            if watched and info.setter:
                self._on_grad_set(args[0])
            out = func(*args, **kwargs)
            if watched and not info.setter:
                self._on_attribute(info.name, args[0], out)
            return out
        if args and compile_time(args[0]):
            return func(*args, **kwargs)
        if info.backward:
            return self._on_backward(info, func, args, kwargs)
        targets: list[torch.Tensor] = []
        if info.inplace and args:
            targets = _tensors_in(args[0])  # one tensor, or a list for _foreach_*_ ops
        elif "out" in kwargs:
            targets = _tensors_in(kwargs["out"])
        targets = [self._owner_of(t) for t in targets]  # through ``p.data``: ``p`` changes
        if targets:
            note_write(self, info.name, args, kwargs, targets)
        for t in targets:  # summarise what they hold now, before the op changes them
            self._changed_in_place = True
            self.keeper.freeze(t)
            if t._base is not None:  # writing through a view writes its base too
                self.keeper.freeze(t._base)
        out = func(*args, **kwargs)
        outputs = targets or _tensors_in(out)
        if outputs and not compile_time(outputs[0]):
            with torch._C.DisableTorchFunction():
                self._record(info, args, kwargs, outputs, bool(targets))
        return out

    def _on_attribute(self, name: str, t: Any, value: Any) -> None:
        if not isinstance(t, torch.Tensor):
            return
        if name == "retain_grad":
            self._user_retained.add(id(t))
        elif name == "data" and isinstance(value, torch.Tensor):
            self._aliases[id(value)] = _GradRead(weakref.ref(value), self._owner_of(t))
        elif name == "grad":
            self._on_grad_read(t, value)

    def _on_grad_read(self, t: torch.Tensor, grad: Any) -> None:
        if isinstance(grad, torch.Tensor):
            # reading x.grad: if that tensor is used later, it is called "x.grad"
            self._grad_reads[id(grad)] = _GradRead(weakref.ref(grad), t)
        if t.is_leaf or (grad is not None and id(t) in self._user_retained):
            return
        entry = self._entry_of(t)
        retained_here = entry is not None and self.steps[entry.step - 1].retained
        if grad is None or retained_here:  # plain PyTorch would give None here
            with torch._C.DisableTorchFunction():
                frame, line, stmt = self.locator.where(4)
                step = self._step_of(t, frame, line, stmt)
            if step not in self._grad_read_steps:
                self._grad_read_steps.add(step)
                self.events.append(RawEvent("grad_read", step, line,
                                            data={"retained_by_gradtrace": grad is not None}))

    def _on_grad_set(self, t: Any) -> None:
        """``x.grad = ...`` (``zero_grad()`` sets it to None): what ``.grad`` held is dropped."""
        if not isinstance(t, torch.Tensor):
            return
        with torch._C.DisableTorchFunction():
            entry = self._entry_of(t)
            if entry is None or t.grad is None:
                return
            line = self.locator.where(4)[1]
            self.add_event("grad_reset", entry.step, line, {"pass": len(self.backward.passes)})

    def _owner_of(self, t: torch.Tensor) -> torch.Tensor:
        """``p`` for ``p.data`` read by the traced code; ``t`` itself otherwise."""
        alias = self._aliases.get(id(t))
        return alias.owner if alias is not None and alias.ref() is t else t

    def entry(self, t: torch.Tensor) -> TensorEntry | None:
        """What is known of ``t`` (of ``p`` for ``p.data``), if it was seen."""
        return self._entry_of(self._owner_of(t))

    def grad_owner(self, t: torch.Tensor) -> torch.Tensor | None:
        """The tensor whose ``.grad`` the traced code read ``t`` (or ``t.data``) as, if any."""
        t = self._owner_of(t)
        read = self._grad_reads.get(id(t))
        return read.owner if read is not None and read.ref() is t else None

    def add_event(self, kind: str, step: int | None, line: int | None,
                  data: dict[str, Any]) -> None:
        self.events.append(RawEvent(kind, step, line, data=data))

    def copies_before_step(self, optimizer: Any, params: list[torch.Tensor]
                           ) -> list[torch.Tensor]:
        """Private copies of ``params`` as they are before ``optimizer`` steps: the step's
        update is measured against them, and they end up holding ``-Δp`` (see NOTE [seeing
        optimizer steps]). A subclass may lend copies it made already."""
        return [p.detach().clone() for p in params]

    def record_update(self, t: torch.Tensor, op: str, line: int | None,
                      stmt: Statement | None) -> int:
        """A new version of ``t`` made outside autograd (an optimizer step); its step."""
        entry = self._entry_of(t)
        made = self._new_step(op, [entry.step] if entry else [], [], "update", t, line, stmt)
        made.grad_mode = False
        return made.index

    def on_function(self, cls: Any, apply: Any, args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> Any:
        """A custom ``autograd.Function`` call: one step, its inner ops not recorded."""
        self.busy = True
        try:
            out = apply(cls, *args, **kwargs)
        finally:
            self.busy = False
        outputs = _tensors_in(out)
        if outputs:
            with torch._C.DisableTorchFunction():
                self._record(OpInfo(cls.__name__), args, kwargs, outputs, False, "function")
                if self.check and self.steps and sum(c[1] is cls for c in self._calls) < 3:
                    self._calls.append((self.steps[-1].index, cls, *copy_arguments(args, kwargs)))
        return out

    def _record(self, info: OpInfo, args: tuple[Any, ...], kwargs: dict[str, Any],
                outputs: list[torch.Tensor],
                inplace: bool, origin: str = "op") -> None:
        frame, line, stmt = self.locator.where(3)
        if self.locator.internal:
            return
        if frame is not None:  # first: the previous statement's names refer to older versions
            self.locator.note(frame, stmt)
        inputs: list[int] = []
        parts: list[int | str] = []
        seen_inputs: list[torch.Tensor] = []
        literals: list[float | int | bool | tuple[int, ...] | None] = [
            a if _number_or_numbers(a) else None for a in args[:8]]
        if info.reversed and len(literals) >= 2:
            literals[0], literals[1] = literals[1], literals[0]
        for pos, a in enumerate((*args, *kwargs.values())):
            if isinstance(a, torch.Tensor):
                step = self._step_of(a, frame, line, stmt)
                inputs.append(step)
                parts.append(step)
                seen_inputs.append(a)
            elif isinstance(a, (list, tuple)) and a and isinstance(a[0], torch.Tensor):
                for x in a:
                    if isinstance(x, torch.Tensor):
                        inputs.append(self._step_of(x, frame, line, stmt))
                        seen_inputs.append(x)
                parts.append(f"[{len(a)}]")
            elif pos < len(args) and len(parts) < 4:  # literals, for names like pow(x, 2)
                literal = _literal(a)
                if literal is not None:
                    parts.append(literal)
        if info.reversed and len(parts) >= 2:
            parts[0], parts[1] = parts[1], parts[0]
        nodes: dict[tuple[int, str], list[tuple[int, int]]] = {}
        input_ids = {id(x) for x in seen_inputs}
        for t in outputs:
            if not inplace and id(t) in input_ids:
                continue  # returned an input unchanged (x.contiguous(), x.to(same dtype))
            made = self._new_step(info.name, inputs, parts, origin, t, line, stmt)
            made.literals = tuple(literals)
            made.keywords = tuple((k, v) for k, v in kwargs.items() if _number_or_numbers(v))
            node = t.grad_fn
            if node is not None:
                nodes.setdefault(_node_key(node), []).append((t.output_nr, made.index))
        self._nodes.update(nodes)
        if inplace:
            for t in outputs:
                self._new_base_version(t, info, line, stmt)

    def _new_base_version(self, view: torch.Tensor, info: OpInfo, line: int | None,
                          stmt: Statement | None) -> None:
        """An in-place op on a view changed its base too: the base gets a new version."""
        base = view._base
        if base is None or self._entry_of(base) is None:
            return
        made = self._new_step(info.name, [self._tensors[id(view)].step], [], "op", base, line,
                              stmt)
        node = base.grad_fn
        if node is not None:
            self._nodes[_node_key(node)] = [(base.output_nr, made.index)]

    def _new_step(self, op: str, inputs: list[int], parts: list[int | str], origin: str,
                  t: torch.Tensor, line: int | None, stmt: Statement | None,
                  name: str | None = None) -> RawStep:
        known = self._entry_of(t)
        if known is not None:  # a new version of a tensor seen before
            ref, number = known.ref, known.number
        else:
            self._tensor_count += 1
            ref, number = weakref.ref(t), self._tensor_count
        node = t.grad_fn
        leaf = t.is_leaf
        step = RawStep(
            index=len(self.steps) + 1, op=op, inputs=inputs, parts=parts, origin=origin,
            tensor_id=number, value=self.keeper.keep(t),
            grad_fn=node.name() if node is not None else None, requires_grad=t.requires_grad,
            is_leaf=leaf, line=line, source=stmt.text if stmt is not None else None,
            module=self.modules.current, name=name, grad_mode=torch.is_grad_enabled(),
            ref=ref if leaf else None)
        if self.retain_grad and not leaf and step.requires_grad:
            t.retain_grad()
            step.retained = True
        self.steps.append(step)
        self._tensors[id(t)] = TensorEntry(ref, step.index, number, t._version)
        return step

    def _step_of(self, t: torch.Tensor, frame: types.FrameType | None, line: int | None,
                 stmt: Statement | None) -> int:
        """The step of a tensor's current version; one is made for a tensor seen first here."""
        t = self._owner_of(t)
        known = self._entry_of(t)
        if known is not None:
            return known.step
        grad_read = self._grad_reads.get(id(t))
        if grad_read is not None and grad_read.ref() is t:
            step = self._new_step("grad", [], [], "input", t, line, stmt)
            step.grad_of = self._step_of(grad_read.owner, frame, line, stmt)
            return step.index
        param = self.modules.tensor_name(t)
        if frame is None and param is None:
            frame, line, stmt = self.locator.where(3)
        name: str | None
        if param is not None:
            origin, name, rank = param
        else:
            local = self.locator.local_name(self.locator.naming or frame, t)
            origin = "input"
            name, rank = (local.name, local.rank) if local is not None else (None, UNNAMED)
        step = self._new_step("", [], [], origin, t, line, stmt, name)
        step.rank = rank
        if param is None and local is not None and local.owner is not None:
            self._owned.append((step.index, local.owner, local.attr))
        if t.grad_fn is not None:  # made before the trace: its node still belongs to it
            node = t.grad_fn
            self._nodes.setdefault(_node_key(node), []).append((t.output_nr, step.index))
        return step.index

    def _refresh_views(self) -> None:
        """A view whose base changed in place gets a new ``grad_fn`` when next read: file it
        under the view's step, so its gradient is the view's and not an unknown node's."""
        if not self._changed_in_place:
            return
        self._changed_in_place = False
        for ref, step, _, _ in list(self._tensors.values()):
            t = ref()
            if t is not None and t._base is not None and t.requires_grad:
                node = t.grad_fn
                if node is None:
                    continue
                self._nodes.setdefault(_node_key(node), [(t.output_nr, step)])

    def _hook_accumulator(self, node: Any) -> None:
        leaf = node.variable
        held = self._accumulators.get(id(leaf))
        if held is not None and held.ref() is leaf:
            return
        self._accumulators[id(leaf)] = _HeldAccumulator(weakref.ref(leaf), node)
        self.backward.hook_leaf(node, leaf, self._step_of(leaf, None, None, None))

    def _hook_reachable(self, roots: list[torch.Tensor]) -> list[Any]:
        """Hook every node a backward pass from ``roots`` can reach and that is not hooked yet.

        Hooking when a pass begins, rather than as ops run, costs nothing for code that never
        calls backward, and holds no graph alive in between.
        """
        self._refresh_views()
        starts = [_node_of(t) for t in roots if t.requires_grad]
        todo: list[tuple[Any, int | None]] = [(node, None) for node in starts]
        untraced = 0
        into, touched = self._into, set[Any]()
        hooked, nodes, first_seq = self._hooked, self._nodes, self._first_seq
        hook_node = self.backward.hook_node
        while todo:
            node, parent = todo.pop()
            if type(node) is _ACCUMULATE_GRAD:
                self._hook_accumulator(node)
                continue
            key = _node_key(node)
            if key in hooked:
                continue
            hooked.add(key)
            known = nodes.get(key)
            owner: int | None
            if known:
                kind, outputs, owner = "node", known, known[0][1]
            elif key[0] > first_seq:  # made by a recorded op, inside it (TBackward in linear)
                kind, outputs, owner = "inner", [(0, parent)] if parent else [], parent
            else:
                kind, outputs, owner = "untraced", [], None
                untraced += 1
                if untraced > _MAX_UNTRACED_NODES:
                    continue
            edges: list[EdgePlan] = []  # one per input
            for nxt, nr in node.next_functions:
                if nxt is not None:
                    todo.append((nxt, owner))
                plan, shared = self._plan_edge(nxt, nr, owner)
                if shared is not None:
                    touched.add(shared)
                    into.setdefault(shared, []).append(plan)
                edges.append(plan)
            hook_node(node, key, kind, outputs, edges)
        for shared in touched:
            plans = into[shared]
            if len(plans) > 1:  # each edge carries a share of the target's gradient: keep each
                for plan in plans:  # (the hooks read the plans when they run)
                    plan.keep_own_gradient()
        return starts

    def _plan_edge(self, nxt: Any, nr: int, owner: int | None) -> tuple[EdgePlan, Any]:
        """How the gradient sent along one edge into ``nxt`` (its input ``nr``) is recorded, and
        the target (a leaf's id or a node's key) whose record may hold it instead (None: kept
        on its own)."""
        if nxt is None:
            return EdgePlan(None, "", None, False), None
        if type(nxt) is _ACCUMULATE_GRAD:
            leaf = nxt.variable  # type: ignore[union-attr]
            step = self._step_of(leaf, None, None, None)
            return EdgePlan(step, "", step, derived=True), id(leaf)
        target_key = _node_key(nxt)
        target = self._nodes.get(target_key)
        if target:
            first = nr == target[0][0]  # the output whose gradient its step records
            # the latest step recorded for that output
            step = next((st for out, st in reversed(target) if out == nr), target[0][1])
            return EdgePlan(step, "", step, derived=first), target_key if first else None
        if target_key[0] > self._first_seq:
            # a node inside an op (TBackward in linear): it records what it receives, when it
            # is known whose node it is
            return EdgePlan(None, target_key[1], target_key, owner is not None), target_key
        return EdgePlan(None, target_key[1], None, False), None

    # -- backward -----------------------------------------------------------------------------
    def _on_backward(self, info: OpInfo, func: Any, args: tuple[Any, ...],
                     kwargs: dict[str, Any]) -> Any:
        with torch._C.DisableTorchFunction():
            frame, line, stmt = self.locator.where(3)
            if frame is not None:
                self.locator.note(frame, stmt)
            first = _tensors_in(args[0] if args else kwargs.get("tensors", kwargs.get("outputs")))
            roots = [self._step_of(t, frame, line, stmt) for t in first]
            # a root leaf's AccumulateGrad lives only while referenced: hold it for the pass
            root_nodes = self._hook_reachable(first)
            self.all_reduce.prepare()
            self._note_place()
            p = self.backward.begin(info.backward or "", roots, line, stmt.text if stmt else None)
        try:
            result = func(*args, **kwargs)
        except BaseException as e:
            self._add_all_reduce(p.index)
            self.backward.end(p, e)
            raise
        self._add_all_reduce(p.index)
        if info.backward == "autograd.grad":
            wrt = args[1] if len(args) > 1 else kwargs.get("inputs")
            with torch._C.DisableTorchFunction():
                for t, g in zip(_tensors_in(wrt), result):
                    self.backward.capture(self._step_of(t, frame, line, stmt), g)
        self.backward.end(p)
        del root_nodes
        return result

    # -- modules and names ----------------------------------------------------------------------
    def enter_module(self, module: torch.nn.Module) -> None:
        self.all_reduce.saw(module)
        named = self.modules.enter(module, self._module_name)
        for _, name, t in named:  # parameters made inside the trace: name their steps now
            rank = self.modules.tensor_name(t)[2]  # type: ignore[index]
            self._name(t, name, rank)

    def _module_name(self, module: torch.nn.Module) -> tuple[str, int] | None:
        """The variable that holds a root module, and how good a name it is: a module held by
        a loop's variable (a layer in a plain list) is named by the path found when the trace
        stops (``net.hidden[0]``)."""
        frame = self.locator.where(4)[0]
        found = self.locator.local_name(self.locator.naming or frame, module)
        if found is None or found.owner is not None:
            return None
        return found.name, PATH if found.rank < LOOP else LOOP

    def exit_module(self, module: torch.nn.Module, output: Any) -> None:
        path = self.modules.exit(module)
        for t in _tensors_in(output):  # unnamed module outputs are called after the module
            known = self._entry_of(t)
            if known is not None and path is not None:
                step = self.steps[known.step - 1]
                step.hint = step.hint or path

    def _bind(self, b: Binding) -> None:
        rank = self.locator.rank(b.frame, b.loop)
        value = b.value
        if isinstance(value, torch.Tensor):
            step = self._name(value, b.name, rank)
            if step is not None and b.owner is not None:
                self._owned.append((step, b.owner, b.name.partition(".")[2]))
        elif isinstance(value, (tuple, list)) and len(value) <= 16:
            for i, v in enumerate(value):  # an item of a variable: as good as an index path
                if isinstance(v, torch.Tensor):
                    self._name(v, f"{b.name}[{i}]", max(rank, _PATH_RANKS[INDEXED]))

    def _name(self, t: torch.Tensor, name: str, rank: int) -> int | None:
        """Name the latest step of ``t`` unless it has a better name; returns the step."""
        known = self._entry_of(t)
        if known is None:
            return None
        step = self.steps[known.step - 1]
        if rank < step.rank:
            step.name, step.rank = name, rank
        return step.index

    def _name_by_paths(self) -> None:
        """Name tensors by the paths a reader would type (see NOTE [which name]): tensors made
        before the trace that have no better name, and objects' attributes the code set."""
        versions: dict[int, list[RawStep]] = {}
        for s in self.steps:
            versions.setdefault(s.tensor_id, []).append(s)
        wanted: dict[int, int] = {}  # id of a live tensor -> its number
        namespaces = self.locator.namespace()
        block = namespaces[0] if namespaces else {}
        loops = self.locator.loop_names()
        for ref, _, number, _ in self._tensors.values():
            first = versions[number][0]
            if first.op == "" and first.grad_of is None and first.rank > PATH:
                t = ref()
                # a variable of the traced block that still holds it is the best path already
                if t is not None and not (first.name is not None and first.name not in loops
                                          and block.get(first.name) is t):
                    wanted[id(t)] = number
        owners = {id(owner) for _, owner, _ in self._owned}
        if not wanted and not owners:
            return
        paths = find_paths(namespaces, wanted.keys() | owners, self._user_class, loops)
        for key, number in wanted.items():
            path = paths.get(key)
            if path is None:
                continue
            rank = _PATH_RANKS[path.kind]
            for i, s in enumerate(versions[number]):
                if s.rank > rank and (i == 0 or s.name is not None):
                    s.name, s.rank = path.text, rank
        for index, owner, attr in self._owned:
            path = paths.get(id(owner))
            s = self.steps[index - 1]
            if path is None:
                continue
            rank = LOOP if path.kind == LEFTOVER else PATH  # ``layers[2].out`` ends in a name
            if rank < s.rank:
                s.name, s.rank = f"{path.text}.{attr}", rank

    def _keep_latest(self) -> None:
        """Keep whole the latest value of each leaf, parameter and named tensor still alive
        and unchanged (see NOTE [what users read is kept] in the keeper)."""
        keep_final = self.keeper.keep_final
        with torch._C.DisableTorchFunction():
            for ref, index, _, version in self._tensors.values():
                s = self.steps[index - 1]
                if s.rank == UNNAMED and not s.is_leaf and s.hint is None:
                    continue
                t = ref()
                if t is not None and t._version == version:
                    s.value = keep_final(t, s.value)

    def _user_class(self, cls: type) -> bool:
        """Whether ``cls`` is defined in the user's code: its objects' attributes are paths."""
        known = self._user_classes.get(cls)
        if known is None:
            files = {f.__code__.co_filename for f in vars(cls).values()
                     if isinstance(f, types.FunctionType)}  # each file asked once
            module = sys.modules.get(cls.__module__)
            file = getattr(module, "__file__", None)
            if isinstance(file, str):
                files.add(file)
            known = self._user_classes[cls] = any(map(self.locator.user_code, files))
        return known


#: Attributes whose reads and writes the recorder watches (see ``_on_attribute``).
_WATCHED = frozenset({"grad", "data", "retain_grad"})


def _number_or_numbers(v: object) -> bool:
    return isinstance(v, (float, int)) or (
        isinstance(v, tuple) and len(v) <= 8 and all(isinstance(x, int) for x in v))


def _node_key(node: Any) -> tuple[int, str]:
    """Which autograd node this is: its sequence number (increasing, per thread) and name."""
    return node._sequence_nr(), node.name()


def _node_of(t: torch.Tensor) -> Any:
    """The node a gradient for ``t`` goes to: its ``grad_fn``, or a leaf's ``AccumulateGrad``."""
    if t.grad_fn is not None:
        return t.grad_fn
    if hasattr(torch.autograd.graph, "get_gradient_edge"):
        return torch.autograd.graph.get_gradient_edge(t).node
    with torch.enable_grad():  # torch < 2.2: reach it through a throwaway view
        return t.view_as(t).grad_fn.next_functions[0][0]  # type: ignore[union-attr]


def _tensors_in(value: Any) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [v for v in value if isinstance(v, torch.Tensor)]
    return []


def _literal(a: object) -> str | None:
    if isinstance(a, float):
        return f"{a:.4g}"
    if isinstance(a, (bool, int)):
        return repr(a)
    if isinstance(a, (list, tuple)) and all(isinstance(v, (int, float)) for v in a):
        text = repr(list(a))
        return text if len(text) <= 20 else "[…]"
    return None
