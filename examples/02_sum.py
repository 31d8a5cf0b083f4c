"""Case 2: the gradient of y = x.sum() is a vector of ones."""

import torch

torch.manual_seed(0)

x = torch.rand([5], requires_grad=True)
print("x:", x)
y = x.sum()
print("y:", y)

y.backward()
print("x.grad:", x.grad)
