"""A Trace as pandas DataFrames of typed columns: forward steps, backward steps, gradient edges,
and one row per tensor name.

Numbers stay numbers: ``shape`` holds tuples, ``numel`` and the NaN/Inf counts are integers, and
the statistics of values and gradients (``value_min`` ... ``grad_norm``) are float64, NaN where
unknown, so ``t.tensors.sort_values("grad_norm")`` sorts by size. Each frame is built column by
column from the records, as NumPy arrays (:mod:`~gradtrace.views.columns`); the columns that
describe a forward step's tensor are worked out once per Trace (:class:`StepColumns`) and shared
by ``forward``, ``tensors`` and ``backward``. Previews of values are the text and
HTML reports' (:mod:`~gradtrace.views.rows`), and the full values stay in the Trace
(``trace.value(name)``, ``trace.grad(name)``). pandas is imported inside each function so that
``import gradtrace`` stays light.

Example:
    >>> from gradtrace.model.trace import Trace
    >>> list(forward_frame(Trace()).columns)[:5]
    ['step', 'name', 'version', 'op', 'inputs']
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np

from gradtrace.views.columns import (
    named_stat_columns,
    nullable_ints,
    objects,
    stat_columns,
    stat_names,
    stat_table,
)
from gradtrace.views.gradients import step_gradients

if TYPE_CHECKING:
    import pandas

    from gradtrace.model.records import ForwardStep
    from gradtrace.model.trace import Trace

__all__ = ["forward_frame", "backward_frame", "tensors_frame", "edges_frame", "StepColumns",
           "FORWARD_COLUMNS", "BACKWARD_COLUMNS", "TENSORS_COLUMNS", "EDGES_COLUMNS"]

_TENSOR = ["shape", "numel", "dtype", *stat_names("value"), *stat_names("grad")]
FORWARD_COLUMNS = ["step", "name", "version", "op", "inputs", *_TENSOR, "grad_fn",
                   "requires_grad", "is_leaf", "origin", "module", "line", "source"]
BACKWARD_COLUMNS = ["step", "pass", "node", "tensor", "forward_step", "version", "kind",
                    "shape", "numel", "dtype", *stat_names("value"), *stat_names("grad_in")]
TENSORS_COLUMNS = ["name", "step", "version", *_TENSOR, "is_leaf", "requires_grad", "origin"]
EDGES_COLUMNS = ["step", "pass", "node", "from", "to", "to_step", *stat_names("grad")]


def _ints(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def _bools(values: list[bool]) -> np.ndarray:
    return np.array(values, dtype=bool)


def _versions(steps: tuple[ForwardStep, ...]) -> dict[int, int]:
    """Each step's version: 1 for the first step with its name, 2 for the next, ..."""
    seen: dict[str, int] = {}
    out = {}
    for s in steps:
        out[s.step] = seen[s.name] = seen.get(s.name, 0) + 1
    return out


def _frame(columns: dict[str, Any], order: list[str]) -> pandas.DataFrame:
    """The DataFrame of ``columns`` in ``order``, equal to ``pandas.DataFrame(columns)`` and
    its column types, but built without pandas looking at every column again.

    The columns are arrays of known types already (:mod:`~gradtrace.views.columns`); the only
    inference pandas would add is turning a column of strings into its string type, done here
    with ``infer_dtype`` (one C pass); pandas then lays the arrays into its blocks unchecked.
    About half the time of the checked constructor, paid at every first read of a table;
    tests/test_render_table.py holds the two equal.
    """
    import pandas
    from pandas.api.types import infer_dtype

    make = getattr(pandas.DataFrame, "_from_arrays", None)
    if make is None:  # a pandas without it: the checked constructor
        return pandas.DataFrame({name: columns[name] for name in order})
    text = _text_dtype()
    arrays = []
    for name in order:
        column = columns[name]
        if text is not None and isinstance(column, np.ndarray) and column.dtype == object \
                and infer_dtype(column, skipna=True) == "string":
            column = pandas.array(column, dtype=text)
        arrays.append(column)  # NumPy columns are copied into the frame's blocks
    rows = len(arrays[0]) if arrays else 0
    return make(arrays, columns=pandas.Index(order), index=pandas.RangeIndex(rows),
                verify_integrity=False)


@functools.cache
def _text_dtype() -> Any:
    """The type pandas gives a column of strings (and None): its string type from pandas 3 on,
    None where such a column stays ``object``."""
    import pandas

    dtype = pandas.DataFrame({"text": np.array(["a", None], dtype=object)})["text"].dtype
    return None if dtype == np.dtype("O") else dtype


class StepColumns:
    """The columns of every forward step that ``forward``, ``tensors`` and ``backward`` all show
    (version, shape, numel, dtype, ``value_*``, ``grad_*``), worked out once per Trace
    (``Trace._step_columns``): each table then takes its rows from these arrays.

    Row ``i`` is ``trace.steps[i]``; one more row at the end, :attr:`missing`, is the row of no
    step (no shape, NaN statistics) for a backward node whose tensor was not traced.
    """

    def __init__(self, trace: Trace) -> None:
        steps = trace.steps
        self.missing = len(steps)
        #: the row of each step number (the last step with that number, as a dict would keep)
        self.row = {s.step: i for i, s in enumerate(steps)}
        versions = _versions(steps)
        self.version = _ints([*(versions[s.step] for s in steps), 0])
        values = [*(s.value for s in steps), None]
        self.shape = objects([None if v is None else v.shape for v in values])
        self.numel = _ints([0 if v is None else v.numel for v in values])
        self.dtype = objects([None if v is None else v.dtype for v in values])
        self.value_stats = stat_table(values)
        grads = step_gradients(trace)
        self.grad_stats = stat_table([grads.get(s.step) for s in steps])

    def tensor_columns(self, rows: np.ndarray | slice) -> dict[str, Any]:
        """The columns of ``_TENSOR`` and ``version`` for some forward steps (never the missing
        row), by their rows."""
        return {"version": self.version[rows], "shape": self.shape[rows],
                "numel": self.numel[rows], "dtype": self.dtype[rows],
                **named_stat_columns("value", *(t[:, rows] for t in self.value_stats)),
                **named_stat_columns("grad", *(t[:, rows] for t in self.grad_stats))}


def forward_frame(trace: Trace) -> pandas.DataFrame:
    """One row per forward step, in the order the ops ran.

    Args:
        trace: the trace to show.

    Returns:
        A DataFrame with columns ``step, name, version, op, inputs, shape, numel, dtype,
        value_min, value_max, value_mean, value_norm, value_nan, value_inf, grad_min, grad_max,
        grad_mean, grad_norm, grad_nan, grad_inf, grad_fn, requires_grad, is_leaf, origin,
        module, line, source``. ``version`` counts the steps with the same name (1, 2, ... for a
        rebound name); ``inputs`` holds the names of the tensors the op read; ``grad_*`` describe
        the gradient that reached the step, summed over the backward passes (NaN where none did,
        or where only summaries of several passes were kept); ``line`` is nullable ``Int64``.

    Example:
        >>> import torch
        >>> from gradtrace.model.trace import ForwardStep, TensorSummary, Trace
        >>> x = ForwardStep(step=1, name="x", op="tensor", inputs=(),
        ...                 value=TensorSummary.of(torch.tensor([3.0, 4.0])))
        >>> forward_frame(Trace(steps=(x,)))[["name", "shape", "value_norm"]].values.tolist()
        [['x', (2,), 5.0]]
    """
    steps = trace.steps
    names = {s.step: s.name for s in steps}
    columns = {
        "step": _ints([s.step for s in steps]), "name": objects([s.name for s in steps]),
        "op": objects([s.op for s in steps]),
        "inputs": objects([", ".join(names.get(i, f"#{i}") for i in s.inputs) for s in steps]),
        **trace._step_columns.tensor_columns(slice(len(steps))),
        "grad_fn": objects([s.grad_fn for s in steps]),
        "requires_grad": _bools([s.requires_grad for s in steps]),
        "is_leaf": _bools([s.is_leaf for s in steps]),
        "origin": objects([s.origin for s in steps]), "module": objects([s.module for s in steps]),
        "line": nullable_ints([s.line for s in steps]),
        "source": objects([s.source for s in steps]),
    }
    return _frame(columns, FORWARD_COLUMNS)


def backward_frame(trace: Trace) -> pandas.DataFrame:
    """One row per backward step, in the order the autograd engine ran them.

    Args:
        trace: the trace to show.

    Returns:
        A DataFrame with columns ``step, pass, node, tensor, forward_step, version, kind, shape,
        numel, dtype, value_min ... value_inf, grad_in_min, grad_in_max, grad_in_mean,
        grad_in_norm, grad_in_nan, grad_in_inf``. ``forward_step``, ``version``, ``shape`` ...
        ``value_*`` describe the tensor the node belongs to (missing, and ``forward_step`` and
        ``version`` nullable ``Int64``, for an untraced node); ``grad_in_*`` the gradient the
        node received (for ``AccumulateGrad``, what it added to ``.grad``). What each node sent
        on is in :func:`edges_frame`.
    """
    import pandas

    backward = trace.backward_steps
    shared = trace._step_columns
    # the row of each node's tensor in the shared columns: the missing row for an untraced node
    rows = _ints([shared.missing if b.forward_step is None
                  else shared.row.get(b.forward_step, shared.missing) for b in backward])
    untraced = rows == shared.missing
    numel = shared.numel[rows]
    columns = {
        "step": _ints([b.step for b in backward]),
        "pass": _ints([b.backward_pass for b in backward]),
        "node": objects([b.node for b in backward]),
        "tensor": objects([b.tensor for b in backward]),
        "forward_step": nullable_ints([b.forward_step for b in backward]),
        "version": pandas.arrays.IntegerArray(shared.version[rows], untraced),
        "kind": objects([b.kind for b in backward]),
        "shape": shared.shape[rows],
        "numel": pandas.arrays.IntegerArray(numel, untraced) if untraced.any() else numel,
        "dtype": shared.dtype[rows],
        **named_stat_columns("value", *(t[:, rows] for t in shared.value_stats)),
        **stat_columns("grad_in", [b.grad_in for b in backward]),
    }
    return _frame(columns, BACKWARD_COLUMNS)


def edges_frame(trace: Trace) -> pandas.DataFrame:
    """One row per gradient edge: what a backward node sent to one of its inputs.

    Args:
        trace: the trace to show.

    Returns:
        A DataFrame with columns ``step, pass, node, from, to, to_step, grad_min, grad_max,
        grad_mean, grad_norm, grad_nan, grad_inf``: the backward step and pass, the node, the
        name of the tensor whose gradient it took in (``from``), the name it sent a gradient to
        (``to``) and that tensor's forward step (``to_step``, nullable ``Int64``: missing for a
        tensor made before the trace), and the gradient sent. An edge to an input that does not
        require grad carries nothing and has no row.
    """
    edges = [(b, e) for b in trace.backward_steps for e in b.grad_out if e.name]
    columns = {
        "step": _ints([b.step for b, _ in edges]),
        "pass": _ints([b.backward_pass for b, _ in edges]),
        "node": objects([b.node for b, _ in edges]), "from": objects([b.tensor for b, _ in edges]),
        "to": objects([e.name for _, e in edges]),
        "to_step": nullable_ints([e.step for _, e in edges]),
        **stat_columns("grad", [e.grad for _, e in edges]),
    }
    return _frame(columns, EDGES_COLUMNS)


def tensors_frame(trace: Trace) -> pandas.DataFrame:
    """One row per tensor name (its latest version), in order of first appearance.

    Args:
        trace: the trace to show.

    Returns:
        A DataFrame with columns ``name, step, version, shape, numel, dtype, value_min ...
        value_inf, grad_min, grad_max, grad_mean, grad_norm, grad_nan, grad_inf, is_leaf,
        requires_grad, origin``: the latest step with each name, its version (how many steps had
        that name), and the gradient that reached it summed over the traced backward passes
        (NaN where none did; min, max and norm NaN where only summaries of several passes were
        kept, see :mod:`~gradtrace.views.gradients`).
    """
    latest = {s.name: i for i, s in enumerate(trace.steps)}  # the row of each name's last step
    rows = list(latest.values())
    steps = [trace.steps[i] for i in rows]
    columns = {
        "name": objects([s.name for s in steps]), "step": _ints([s.step for s in steps]),
        **trace._step_columns.tensor_columns(_ints(rows)),
        "is_leaf": _bools([s.is_leaf for s in steps]),
        "requires_grad": _bools([s.requires_grad for s in steps]),
        "origin": objects([s.origin for s in steps]),
    }
    return _frame(columns, TENSORS_COLUMNS)


def updates_frame(trace: Trace) -> pandas.DataFrame:
    """One row per optimizer step and parameter, in order (see :mod:`gradtrace.model.updates`).

    Columns: ``call`` (the optimizer step, from 1), ``optimizer``, ``parameter``, ``step`` (the
    forward step of the new version), ``pass`` (backward passes run by then), ``loss``,
    ``grad_norm``, ``update_norm`` (``‖Δp‖``), ``value_norm`` (``‖p‖`` after the step) and
    ``update_ratio`` (their ratio), ``line``, and ``passes`` (how many backward passes the
    ``.grad`` it used summed: 4 for four micro-batches before one step).
    """
    import pandas

    from gradtrace.model.updates import updates

    rows = updates(trace)
    return pandas.DataFrame({
        "call": pandas.array([u.call for u in rows], dtype="int64"),
        "optimizer": [u.optimizer for u in rows],
        "parameter": [u.parameter for u in rows],
        "step": pandas.array([u.step for u in rows], dtype="int64"),
        "pass": pandas.array([u.backward_pass for u in rows], dtype="int64"),
        **{name: pandas.array([getattr(u, field) for u in rows], dtype="float64")
           for name, field in (("loss", "loss"), ("grad_norm", "grad_norm"),
                               ("update_norm", "update_norm"), ("value_norm", "value_norm"),
                               ("update_ratio", "ratio"))},
        "line": pandas.array([u.line for u in rows], dtype="Int64"),
        "passes": pandas.array([u.passes for u in rows], dtype="int64"),
    })
