"""Backpropagation by hand, checked: y = log(exp(x_1*x_2)**2 + sin(x_3+x_4+x_5)*x_5)."""

import torch

x_1 = torch.tensor(1.0, requires_grad=True)
x_2 = torch.tensor(2.0, requires_grad=True)
x_3 = torch.tensor(-1.0, requires_grad=True)
x_4 = torch.tensor(3.0, requires_grad=True)
x_5 = torch.tensor(5.0, requires_grad=True)

y = torch.log(torch.exp(x_1 * x_2) ** 2 + torch.sin(x_3 + x_4 + x_5) * x_5)
print("y:", y)

y.backward()
print("dy/dx_1:", x_1.grad)
print("dy/dx_2:", x_2.grad)
print("dy/dx_3:", x_3.grad)
print("dy/dx_4:", x_4.grad)
print("dy/dx_5:", x_5.grad)
