"""A Trace as pandas DataFrames: forward steps, backward steps, and one row per tensor name.

Cells that hold tensors are short strings from :func:`~gradtrace.views.format.format_value`;
the cells the report shows too (inputs, shapes, gradients) come from where the report's do,
:mod:`~gradtrace.views.rows`. The full values stay in the Trace (``trace.value(name)``,
``trace.grad(name)``). pandas is imported inside each function so that ``import gradtrace``
stays light.

Example:
    >>> from gradtrace.model.trace import Trace
    >>> list(forward_frame(Trace()).columns)[:4]
    ['step', 'name', 'op', 'inputs']
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gradtrace.views.format import format_value
from gradtrace.views.rows import backward_rows, forward_rows, tensor_rows

if TYPE_CHECKING:
    import pandas

    from gradtrace.model.trace import Trace
    from gradtrace.views.rows import ForwardRow

__all__ = ["forward_frame", "backward_frame", "tensors_frame", "FORWARD_COLUMNS",
           "BACKWARD_COLUMNS", "TENSORS_COLUMNS"]

FORWARD_COLUMNS = ["step", "name", "op", "inputs", "shape", "dtype", "value", "grad_fn",
                   "requires_grad", "is_leaf", "origin", "module", "line", "source"]
BACKWARD_COLUMNS = ["step", "pass", "node", "tensor", "forward_step", "grad_in", "grad_out",
                    "kind"]
TENSORS_COLUMNS = ["name", "step", "shape", "dtype", "value", "grad", "is_leaf",
                   "requires_grad", "origin"]
# Columns that may be missing (None): kept as pandas' nullable integers, not floats.
_NULLABLE_INTS = ("line", "forward_step")


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pandas.DataFrame:
    import pandas

    df = pandas.DataFrame(rows, columns=columns)
    for col in _NULLABLE_INTS:
        if col in df.columns:
            df[col] = df[col].astype("Int64")
    if not rows:  # give an empty frame the same dtypes a full one would have
        for col in ("step", "pass"):
            if col in df.columns:
                df[col] = df[col].astype("int64")
        for col in ("requires_grad", "is_leaf"):
            if col in df.columns:
                df[col] = df[col].astype(bool)
    return df


def forward_frame(trace: Trace) -> pandas.DataFrame:
    """One row per forward step, in the order the ops ran.

    Args:
        trace: the trace to show.

    Returns:
        A DataFrame with columns ``step, name, op, inputs, shape, dtype, value, grad_fn,
        requires_grad, is_leaf, origin, module, line, source``; ``inputs`` holds the names of the
        tensors the op read and ``value`` a short preview.

    Example:
        >>> import torch
        >>> from gradtrace.model.trace import ForwardStep, TensorSummary, Trace
        >>> x = ForwardStep(step=1, name="x", op="tensor", inputs=(),
        ...                 value=TensorSummary.of(torch.tensor([3.0])))
        >>> forward_frame(Trace(steps=(x,)))[["name", "value"]].values.tolist()
        [['x', '3.0000']]
    """
    return _frame([_forward_row(r) for r in forward_rows(trace)], FORWARD_COLUMNS)


def _forward_row(r: ForwardRow) -> dict[str, Any]:
    s = r.step
    return {
        "step": s.step, "name": s.name, "op": s.op, "inputs": r.inputs, "shape": r.shape,
        "dtype": s.value.dtype, "value": format_value(s.value), "grad_fn": s.grad_fn,
        "requires_grad": s.requires_grad, "is_leaf": s.is_leaf, "origin": s.origin,
        "module": s.module, "line": s.line, "source": s.source,
    }


def backward_frame(trace: Trace) -> pandas.DataFrame:
    """One row per backward step, in the order the autograd engine ran them.

    Args:
        trace: the trace to show.

    Returns:
        A DataFrame with columns ``step, pass, node, tensor, forward_step, grad_in, grad_out,
        kind``. ``grad_out`` reads ``"cos(x_1) <- 0.6931, log(x_2) <- -0.9900"`` for a node,
        ``"x_2.grad: None -> -0.4950"`` for ``AccumulateGrad`` and ``"returned by
        autograd.grad"`` for a captured gradient.
    """
    rows = [
        {
            "step": r.step.step, "pass": r.step.backward_pass, "node": r.step.node,
            "tensor": r.step.tensor, "forward_step": r.step.forward_step, "grad_in": r.grad_in,
            "grad_out": r.grad_out, "kind": r.step.kind,
        }
        for r in backward_rows(trace.backward_steps)
    ]
    return _frame(rows, BACKWARD_COLUMNS)


def tensors_frame(trace: Trace) -> pandas.DataFrame:
    """One row per tensor name (its latest version), in order of first appearance.

    Args:
        trace: the trace to show.

    Returns:
        A DataFrame with columns ``name, step, shape, dtype, value, grad, is_leaf,
        requires_grad, origin``; ``grad`` is the gradient summed over the traced backward passes
        (the latest pass's when only summaries were kept), ``""`` when none reached the tensor.
    """
    rows = [
        {
            "name": r.step.name, "step": r.step.step, "shape": r.shape,
            "dtype": r.step.value.dtype, "value": r.value, "grad": r.grad,
            "is_leaf": r.step.is_leaf, "requires_grad": r.step.requires_grad,
            "origin": r.step.origin,
        }
        for r in tensor_rows(trace)
    ]
    return _frame(rows, TENSORS_COLUMNS)
