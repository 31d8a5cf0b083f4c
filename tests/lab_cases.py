"""Lab computations several test files trace: the backprop formula and a small MLP."""

from __future__ import annotations

import contextlib
from typing import Any

import torch

from gradtrace import Trace, trace

FORMULA_AT = (1.0, 2.0, -1.0, 3.0, 5.0)


def formula_trace() -> tuple[list[torch.Tensor], Trace]:
    """y = log(exp(x_1*x_2)**2 + sin(x_3+x_4+x_5)*x_5) at x = [1, 2, -1, 3, 5], traced."""
    with trace() as t:
        xs = formula(contextlib.nullcontext())
    return xs, t


def formula(ctx: Any) -> list[torch.Tensor]:
    """The lab's backprop formula and its backward pass run inside ``ctx``; the leaves."""
    with ctx:
        x_1 = torch.tensor(1.0, requires_grad=True)
        x_2 = torch.tensor(2.0, requires_grad=True)
        x_3 = torch.tensor(-1.0, requires_grad=True)
        x_4 = torch.tensor(3.0, requires_grad=True)
        x_5 = torch.tensor(5.0, requires_grad=True)
        y = torch.log(torch.exp(x_1 * x_2) ** 2 + torch.sin(x_3 + x_4 + x_5) * x_5)
        y.backward()
    return [x_1, x_2, x_3, x_4, x_5]


class MLP(torch.nn.Module):
    """Two hidden layers, as in the lab's homework."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(5, 16)
        self.fc2 = torch.nn.Linear(16, 8)
        self.out = torch.nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc1(x))
        h = torch.relu(self.fc2(h))
        return self.out(h)
