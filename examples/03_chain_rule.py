"""Composition: y = g(f(x)) with z = f(x) = log(x) and g(z) = z**2, so dy/dx = 2 log(x) / x."""

import torch

torch.manual_seed(0)

x = torch.rand(1, requires_grad=True)
print("x:", x)
z = x.log()
y = z**2
print("y:", y)

y.backward()
print("gradient of x:", x.grad)
