"""Case 1: the derivative of y = x**2 for a single number x is 2x."""

import torch

torch.manual_seed(0)

x = torch.rand(1, requires_grad=True)
print("x:", x)
y = x**2
print("y:", y)

y.backward()
print("x.grad:", x.grad)
print("x.grad == 2*x:", x.grad == 2 * x)
