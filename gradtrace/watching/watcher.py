"""``watch``: leave gradtrace on while a model trains; one iteration in ``every`` is traced.

# NOTE [what an iteration is]
# An iteration ends at each step of the first optimizer that steps, or, where the code updates
# its parameters by hand, at each backward pass. Until an optimizer has stepped the watch cannot
# tell the two apart, so the first iteration ends at its backward pass either way, and the
# trace of the next sampled iteration starts there (it then holds the first optimizer step).
# A sample's statistics are taken where its gradients are final: at the end of the backward
# pass, or just before the optimizer step. Its update (``update_data_ratio``) is measured from a
# copy of the parameters taken then, once the update has happened: after the optimizer step, or
# for an update by hand at the start of the next backward pass (or when the watch ends).
# A backward pass that finds the parameters unchanged (a loop that accumulates gradients over
# micro-batches, before its first optimizer step) leaves the update to be measured later.
# Where several backward passes ran before the first optimizer step (nanoGPT accumulates over
# micro-batches), they were one iteration's: the count goes back to where the loop's own is
# (the step ends iteration 0), the samples taken of the later micro-batches are dropped, and a
# trace opened for one is kept only if iteration 1 is sampled. Iteration 0 is then measured at
# the end of its first micro-batch's backward pass, its update across the first step (not
# measured, NaN, where ``every`` is smaller than the number of micro-batches).
#
# NOTE [what a sampled Trace keeps]
# What a watch reports is its own statistics of each layer (the history), the same whatever its
# Traces keep. A sampled Trace kept values="summary" at first: the statistics of every tensor
# of every op, which on the transformer of ``benchmarks/watch.py`` made a sampled iteration's
# trace 4.1x a plain iteration against 2.4x keeping shapes only (5.4x and 3.1x with the
# watch's statistics), about two more plain iterations per sample, for values that the
# history already has layer by layer. A watch is left on for a whole run, so its samples keep
# shapes, ops, names, the backward order and the optimizer step's norms by default; asking
# for ``values="summary"`` keeps the rest, and the first NaN/Inf warning says so.
#
# A sampled optimizer step is measured against the copies of the parameters the sample took
# just before it (``ProbingRecorder.copies_before_step``): the step's trace used to copy them
# again and subtract for ``-Δp``, which the watch then did a third time; lent, the trace's
# subtraction leaves ``-Δp`` in the sample's rows (2.6 ms of a 39 ms sampled iteration of the
# 20-layer MLP, 23 ms of 921 ms on the transformer).
"""

from __future__ import annotations

import math
import sys
from collections import deque
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any

import torch

from gradtrace.capture.usercode import UserCode
from gradtrace.model.trace import Trace
from gradtrace.watching import boundaries
from gradtrace.watching.figure import MOST_CURVES
from gradtrace.watching.history import History
from gradtrace.watching.params import leaves_of, watched
from gradtrace.watching.probe import Probe, ProbingRecorder
from gradtrace.watching.sample import Sample, Update, resolve_updates
from gradtrace.watching.stats import Scratch

if TYPE_CHECKING:
    import pandas

    from gradtrace.diagnostics.diagnostic import Warnings

__all__ = ["Watch", "watch", "SAMPLE_VALUES"]

#: what a sampled Trace keeps of its tensors unless asked (see NOTE [what a sampled Trace keeps])
SAMPLE_VALUES = "none"


class Watch:
    """Watches training: see :func:`watch` for the arguments."""

    def __init__(self, target: Any = None, *, every: int = 10, keep: int = 3,
                 tensorboard: Any = None, capacity: int = 1 << 15,
                 files: Iterable[str] | None = None, values: str = SAMPLE_VALUES,
                 on_sample: Callable[[Watch], None] | None = None) -> None:
        if every < 1:
            raise ValueError(f"gradtrace.watch: every={every}; it must be 1 or more")
        self.every = every
        #: the arrays behind :attr:`history` (and the histograms the figure draws)
        self.stats = History(capacity)
        #: the Traces of the latest sampled iterations, oldest first
        self.traces: deque[Trace] = deque(maxlen=keep)
        self.iteration = 0  # the iteration running now
        self.first_nonfinite: int | None = None  # the first iteration whose loss was NaN/Inf
        self._target, self._values, self._on_sample = target, values, on_sample
        self._files = None if files is None else list(files)
        self._params: list[tuple[str, torch.Tensor]] | None = None
        self._module_names: dict[int, str] = {}
        self._names: dict[int, str] = {}  # id(parameter) -> its name in a trace
        self._board = None if tensorboard is None else _board(tensorboard)
        self._mode: str | None = None  # "step" or None: backward passes end iterations
        self._optimizer: Any = None
        self._window: tuple[ProbingRecorder, Probe, int] | None = None
        self._sample: Sample | None = None
        self._pending: tuple[int, list[Update]] | None = None
        self._loss: torch.Tensor | None = None
        self._bad: torch.Tensor | None = None
        self._root: Any = None
        self._running = False
        self._first_step = False  # the first optimizer step ran, outside the wrapper
        self._unwanted = False  # the open trace is of an iteration not sampled (see NOTE)
        self._scratch = Scratch()  # the samples' buffers

    # -- the results ------------------------------------------------------------------------
    @property
    def history(self) -> pandas.DataFrame:
        """One row per sampled iteration and tensor: ``iteration``, ``name``, ``kind`` and the
        statistics (see :data:`gradtrace.watching.stats.COLUMNS`)."""
        return self.stats.frame()

    @property
    def values(self) -> str:
        """What each sampled Trace keeps of its tensors (see NOTE [what a sampled Trace
        keeps])."""
        return self._values

    @property
    def optimizer(self) -> Any:
        """The optimizer whose steps end iterations (None where the code updates by hand)."""
        return self._optimizer

    @property
    def last(self) -> Trace | None:
        """The Trace of the latest sampled iteration."""
        return self.traces[-1] if self.traces else None

    @property
    def warnings(self) -> Warnings:
        """Warnings from the trends over the samples (see :mod:`gradtrace.watching.rules`)."""
        from gradtrace.watching.rules import watch_warnings

        return watch_warnings(self)

    def __str__(self) -> str:
        from gradtrace.watching.report import to_text

        return to_text(self)

    def plot(self, path: str | None = None) -> Any:
        """makemore part 3's panels as a matplotlib Figure; saved to ``path`` when given."""
        from gradtrace.watching.figure import figure

        fig = figure(self.stats)
        if path is not None:
            fig.savefig(path, dpi=100)
        return fig

    # -- the with block -----------------------------------------------------------------------
    def __enter__(self) -> Watch:
        caller = sys._getframe(1)
        self._root = caller
        if self._files is None:
            self._files = [caller.f_code.co_filename]
        self._params, self._module_names = watched(self._target)
        boundaries.listen(self)
        self._running = True
        self._maybe_open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if self._window is not None:  # an iteration that did not finish
                self._stop_window(keep=False)
            self._resolve()
            self._note_nonfinite()
        finally:
            self._running = False
            boundaries.unlisten(self)
            if self._board is not None:
                self._board.flush()

    # -- what the boundaries report -----------------------------------------------------------
    def backward_started(self, tensors: Any) -> None:
        if self._pending is not None and (self._mode != "step" or self._first_step):
            # updated by hand, or by the first optimizer step (see NOTE)
            self._resolve(wait=self._mode != "step")
        self._first_step = False
        t = tensors[0] if isinstance(tensors, (list, tuple)) and tensors else tensors
        if isinstance(t, torch.Tensor) and t.numel() == 1 and t.is_floating_point():
            self._loss = t.detach()
            with torch._C.DisableTorchFunction(), torch.no_grad():
                if t.is_cpu:  # read at once: nothing to wait for, and five ops fewer
                    if not math.isfinite(self._loss.item()) \
                            and (self._bad is None or int(self._bad) < 0):
                        self._bad = torch.tensor(self.iteration)
                else:  # on the device, read at a sample: no synchronisation per iteration
                    bad = ~torch.isfinite(self._loss.reshape(()))
                    if self._bad is None:
                        self._bad = torch.full((), -1, dtype=torch.int64, device=t.device)
                    self._bad = torch.where(bad & (self._bad < 0), self.iteration, self._bad)
        if self._params is None:
            self._params = leaves_of(tensors)

    def backward_ended(self, tensors: Any) -> None:
        if self._mode == "step":
            return
        if self._window is not None:
            self._measure()
            self._stop_window(keep=True)
        self._next()

    def optimizer_met(self, optimizer: Any) -> None:
        if self._optimizer is None:
            self._optimizer, self._mode, self._first_step = optimizer, "step", True
            if not self._params:
                self._params = watched(optimizer.param_groups)[0]
            if self.iteration > 1:
                self._one_iteration_so_far()

    def _one_iteration_so_far(self) -> None:
        """The backward passes before the first optimizer step were micro-batches of iteration
        0 (see NOTE [what an iteration is]); runs inside the step's hook, so no trace starts or
        stops here."""
        dropped = self.stats.drop_after(0)
        for _ in range(min(dropped, len(self.traces))):
            self.traces.pop()
        if dropped:  # a later micro-batch's sample ended iteration 0's wait for its update
            self.stats.set_updates(0, dict.fromkeys(self.stats.names, (math.nan, math.nan)))
        if self._pending is not None and self._pending[0] > 0:
            self._pending = None
        if self._bad is not None:
            with torch._C.DisableTorchFunction():
                self._bad = self._bad.clamp(max=0)
        self.iteration = 1
        if self._window is not None:
            recorder, probe, _ = self._window
            self._window = (recorder, probe, 1)
            self._unwanted = self.iteration % self.every != 0

    def step_started(self, optimizer: Any) -> None:
        if optimizer is self._optimizer and self._window is not None and not self._unwanted:
            self._measure()
            recorder, _, _ = self._window
            recorder.lender = self._sample  # its copies serve the step's trace too

    def step_ended(self, optimizer: Any) -> None:
        if optimizer is not self._optimizer:
            return
        if self._window is not None:
            self._stop_window(keep=not self._unwanted)
            self._unwanted = False
        self._resolve()
        self._next()

    # -- samples ------------------------------------------------------------------------------
    def _next(self) -> None:
        self.iteration += 1
        self._maybe_open()

    def _maybe_open(self) -> None:
        if self.iteration % self.every != 0:
            return
        files = self._files or []
        probe = Probe(self._module_names)
        recorder = ProbingRecorder(probe, files, retain_grad=False, values=self._values,
                                   user_code=UserCode.around(files, _notebook_cells()))
        recorder.locator.root = self._root if self._root.f_code.co_filename in files else None
        recorder.start()
        self._window = (recorder, probe, self.iteration)

    def _measure(self) -> None:
        assert self._window is not None
        _, probe, iteration = self._window
        most = None if self._board is not None else MOST_CURVES  # TensorBoard takes them all
        self._sample = Sample(iteration, probe, self._params or [], self._loss, self._scratch,
                              most)

    def _stop_window(self, keep: bool) -> None:
        assert self._window is not None
        recorder, probe, iteration = self._window
        self._window = None
        sample, self._sample = self._sample, None
        keys = {id(i.key): recorder.entry(i.key) for i in sample.items} if sample else {}
        try:
            build = recorder.stop(None)
        finally:
            probe.stop()
        if not keep or sample is None:
            probe.clear()
            return
        steps = recorder.steps

        def name_of(t: torch.Tensor) -> str | None:
            entry = keys.get(id(t))
            step = steps[entry.step - 1] if entry is not None else None
            name = step.name if step is not None else None
            if not t.is_leaf:  # as the Trace names it: a variable, else the module it came from
                return name or (step.hint if step is not None else None)
            known = self._names.get(id(t))
            if name is not None:
                self._names[id(t)] = name
            return name or known

        names, kinds, rows, updates = sample.finish(name_of)
        probe.clear()
        self.traces.append(Trace.later(build))
        self._record(sample, names, kinds, rows)
        self._resolve()  # one left waiting: no update happened between the two samples
        self._pending = (iteration, updates)

    def _record(self, sample: Sample, names: list[str], kinds: list[str],
                rows: list[list[float]]) -> None:
        h = self.stats
        h.add_sample(sample.iteration, sample.loss, sample.grad_norm)
        h.add(sample.iteration, names, kinds, rows)
        h.histograms = {d.name: (d.counts, d.hist.low, d.hist.high, d.hist.scaled, d.mean, d.std)
                        for d in sample.counts}
        h.ndims.update(sample.ndims)
        h.kind_of.update(zip(names, kinds))
        for d in sample.counts:
            h.ops.setdefault(d.name, d.op)
        self._note_nonfinite()
        if self._board is not None:
            self._board.write(self, sample.iteration)
        if self._on_sample is not None:
            self._on_sample(self)

    def _resolve(self, wait: bool = False) -> None:
        """Measure the pending update; with ``wait``, leave it pending if no parameter changed
        (see NOTE [what an iteration is])."""
        if self._pending is None:
            return
        iteration, updates = self._pending
        found = resolve_updates(updates)
        if wait and found and not any(ratio > 0 for _, ratio in found.values()):
            return  # every Δp is 0 (NaN where a parameter is all zeros)
        self._pending = None
        self.stats.set_updates(iteration, found)

    def _note_nonfinite(self) -> None:
        if self.first_nonfinite is None and self._bad is not None:
            with torch._C.DisableTorchFunction():
                found = int(self._bad.item())
            self.first_nonfinite = found if found >= 0 else None


def _board(target: Any) -> Any:
    from gradtrace.watching.board import Board

    return Board(target)


def _notebook_cells() -> list[str]:
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    cells = getattr(getattr(shell, "compile", None), "_filename_map", None)
    return list(cells) if isinstance(cells, dict) else []


def watch(target: Any = None, *, every: int = 10, keep: int = 3, tensorboard: Any = None,
          capacity: int = 1 << 15, files: Iterable[str] | None = None,
          values: str = SAMPLE_VALUES, on_sample: Callable[[Watch], None] | None = None) -> Watch:
    """Watch a training loop: ``with gradtrace.watch(model, every=100) as w:``.

    Args:
        target: an ``nn.Module``, a list of parameters (makemore's ``parameters``), or None:
            the parameters the loop's backward passes reach.
        every: trace one iteration in ``every`` (the first one included).
        keep: how many sampled Traces :attr:`Watch.traces` holds.
        tensorboard: a log folder, or a ``SummaryWriter``: scalars and histograms at each
            sample.
        capacity: the most rows :attr:`Watch.history` holds; past it, every other sample is
            dropped.
        files: the source files whose variables name tensors (the caller's by default).
        values: what each sampled Trace keeps of its tensors (as in :func:`gradtrace.trace`):
            ``"none"`` by default, shapes only (see NOTE [what a sampled Trace keeps]);
            ``"summary"`` keeps each tensor's statistics and small ones whole, at about one
            more plain iteration per sample.
        on_sample: called with the Watch after each sample (the notebook's live view uses it).

    Returns:
        The :class:`Watch`: ``w.history``, ``w.plot()``, ``w.warnings``, ``w.last``.
    """
    return Watch(target, every=every, keep=keep, tensorboard=tensorboard, capacity=capacity,
                 files=files, values=values, on_sample=on_sample)
