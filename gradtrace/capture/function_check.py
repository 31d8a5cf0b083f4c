"""Check a custom ``torch.autograd.Function``'s backward against finite differences.

The check runs on double-precision copies of the values the traced call really received, with a
random (seeded) output gradient: a backward that forgets to multiply by ``grad_output`` is wrong
for any gradient but ones.

# NOTE [kinks]
# At a kink (LeakyReLU at 0) the central difference is the average of the two slopes (0.505)
# while a correct backward gives one of them (1). Agreement with the central or with either
# one-sided difference is accepted, or correct Functions would be flagged.

Example:
    >>> import torch
    >>> class Double(torch.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         return 2 * x
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         return g  # wrong: should be 2 * g
    >>> result = check_function(Double, *copy_arguments((torch.ones(3, requires_grad=True),), {}))
    >>> result["input"], result["element"], round(result["numeric"] / result["analytic"], 3)
    (0, 0, 2.0)
"""

from __future__ import annotations

from typing import Any

import torch

__all__ = ["check_function", "copy_arguments"]

_MAX_ELEMENTS = 64  # elements of each input that are perturbed
_EPS = 1e-6
_ATOL, _RTOL = 1e-5, 1e-3


def copy_arguments(args: tuple[Any, ...], kwargs: dict[str, Any]
                   ) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Double-precision, detached copies of the tensor arguments; other arguments as they are."""
    def copy(a: Any) -> Any:
        if isinstance(a, torch.Tensor) and a.is_floating_point():
            c = a.detach().to("cpu", torch.float64, copy=True)
            return c.requires_grad_(a.requires_grad)
        return a

    return tuple(copy(a) for a in args), {k: copy(v) for k, v in kwargs.items()}


def check_function(cls: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
    """Compare ``cls.backward`` with finite differences of ``cls.forward`` at ``args``.

    Returns:
        ``{}`` when they agree; else ``input`` (position), ``element`` (flat index), ``analytic``
        and ``numeric`` for the first mismatch, or ``error`` when forward or backward raised.
    """
    wrt = [i for i, a in enumerate(args) if isinstance(a, torch.Tensor) and a.requires_grad]
    if not wrt:
        return {}
    g = torch.Generator().manual_seed(0)
    try:
        with torch.enable_grad():
            out = _outputs(cls.apply(*args, **kwargs))
            v = [torch.randn(o.shape, generator=g, dtype=o.dtype) for o in out]
            grads = torch.autograd.grad(out, [args[i] for i in wrt], v, allow_unused=True)
    except Exception as e:  # the user's backward raising is exactly what to report
        return {"error": f"{type(e).__name__}: {e}"}

    def f(i: int, j: int, delta: float) -> float:
        moved = list(args)
        x = args[i].detach().clone()
        x.view(-1)[j] += delta
        moved[i] = x
        with torch.no_grad():
            outs = _outputs(cls.apply(*moved, **kwargs))
            return sum(float((o * w).sum()) for o, w in zip(outs, v))

    for i, grad in zip(wrt, grads):
        for j in range(min(args[i].numel(), _MAX_ELEMENTS)):
            analytic = 0.0 if grad is None else float(grad.reshape(-1)[j])
            here, up, down = f(i, j, 0.0), f(i, j, _EPS), f(i, j, -_EPS)
            slopes = [(up - down) / (2 * _EPS), (up - here) / _EPS, (here - down) / _EPS]
            if not any(abs(s - analytic) <= _ATOL + _RTOL * abs(analytic) for s in slopes):
                return {"input": i, "element": j, "analytic": analytic, "numeric": slopes[0]}
    return {}


def _outputs(out: Any) -> list[torch.Tensor]:
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if isinstance(o, torch.Tensor) and o.is_floating_point()]
