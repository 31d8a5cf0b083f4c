"""``Trace.compare(name=tensor, ...)``: check gradients derived by hand against the trace's.

Each row says whether the hand-derived gradient is bit-for-bit what autograd computed
(``exact``), whether it is within ``torch.allclose``'s default tolerances (``close``), how far
it is at worst (``max_diff``, at index ``worst``), and in ``note`` why a row could not be
compared: a shape that differs, or a gradient the trace did not keep or that never came.

Example:
    >>> import torch
    >>> from gradtrace import trace
    >>> with trace() as t:
    ...     x = torch.tensor([1.0, 2.0], requires_grad=True)
    ...     y = (x ** 2).sum()
    ...     y.backward()
    >>> df = t.compare(x=[2.0, 4.0], y=1.0)
    >>> df[["name", "exact", "close", "max_diff"]].to_string(index=False)
    'name  exact  close  max_diff\\n   x   True   True       0.0\\n   y   True   True       0.0'
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

from gradtrace.model.errors import TraceLookupError

if TYPE_CHECKING:
    import pandas

    from gradtrace.model.trace import Trace

__all__ = ["compare", "COLUMNS"]

#: The columns of :func:`compare`'s table, in order.
COLUMNS = ("name", "exact", "close", "max_diff", "worst", "note")


def compare(trace: Trace, grads: Mapping[str, Any]) -> pandas.DataFrame:
    """One row per name of ``grads``: the hand-derived gradient against ``trace.grad(name)``.

    Values may be tensors (on any device) or Python numbers and lists.

    Raises:
        TraceLookupError: a name the trace does not hold; the message lists those it does.
    """
    import pandas

    for name in grads:
        trace.step(name)  # an unknown name raises, naming the trace's names
    rows = [_row(trace, name, given) for name, given in grads.items()]
    return pandas.DataFrame(rows, columns=list(COLUMNS))


def _row(trace: Trace, name: str, given: Any) -> dict[str, Any]:
    try:
        grad = trace.grad(name)
    except TraceLookupError as exc:
        return _failed(name, str(exc).removeprefix("gradtrace: "))
    if grad is None:
        return _failed(name, f"no gradient reached {name} in the traced backward passes")
    if isinstance(given, torch.Tensor):
        mine = given.detach().cpu()
    else:
        mine = torch.as_tensor(given, dtype=grad.dtype)
    if mine.shape != grad.shape:
        return _failed(name, f"shape {_shape(mine)} but the gradient is {_shape(grad)}")
    common = torch.promote_types(mine.dtype, grad.dtype)
    if not common.is_floating_point and not common.is_complex:
        common = torch.get_default_dtype()
    a, b = mine.to(common), grad.to(common)
    diff = (a - b).abs()
    worst = _index(int(diff.flatten().argmax()), tuple(grad.shape)) if diff.numel() else None
    note = "" if mine.dtype == grad.dtype else \
        f"dtype {_dtype(mine)} but the gradient is {_dtype(grad)}"
    return {"name": name, "exact": mine.dtype == grad.dtype and torch.equal(mine, grad),
            "close": bool(torch.allclose(a, b)),
            "max_diff": float(diff.max()) if diff.numel() else 0.0, "worst": worst, "note": note}


def _failed(name: str, note: str) -> dict[str, Any]:
    return {"name": name, "exact": False, "close": False, "max_diff": math.nan, "worst": None,
            "note": note}


def _index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The index in ``shape`` of element ``flat`` of its flattening."""
    out = []
    for size in reversed(shape):
        flat, i = divmod(flat, size)
        out.append(i)
    return tuple(reversed(out))


def _shape(t: torch.Tensor) -> str:
    return str(tuple(t.shape))


def _dtype(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")
