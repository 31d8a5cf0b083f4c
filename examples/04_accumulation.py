"""Gradient accumulation: a second backward() adds to .grad instead of replacing it."""

import torch

x_1 = torch.tensor([3.0], requires_grad=True)
x_2 = torch.tensor([2.0], requires_grad=True)
print("x_1:", x_1)
print("x_2:", x_2)

c = x_1.cos() * x_2.log()
c.backward()
print("x_1.grad:", x_1.grad)
print("x_2.grad:", x_2.grad)

# The same computation again: the gradients double, because backward() sums into .grad.
c = x_1.cos() * x_2.log()
c.backward()
print("x_1.grad:", x_1.grad)
print("x_2.grad:", x_2.grad)
