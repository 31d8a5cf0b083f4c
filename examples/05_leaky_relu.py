"""LeakyReLU twice: as a Module built from torch ops, and as a custom autograd Function."""

import torch


class LeakyReLU(torch.nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, data):
        return torch.max(data, data * 0.01)


leaky_relu = LeakyReLU()
print("leaky_relu(arange):", leaky_relu(torch.arange(-10, 10)))

x = torch.tensor([1.0, -1.0], requires_grad=True)
y = leaky_relu(x).sum()
print("y:", y)
y.backward()
print("dy/dx:", x.grad)


class LeakyReLU_Fun(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input_):
        ctx.save_for_backward(input_)
        return torch.max(input_, input_ * 0.01)

    @staticmethod
    def backward(ctx, grad_output):
        input_, = ctx.saved_tensors  # the lab's `input_ = ctx.saved_tensors` gets a tuple
        # the gradient is 1 for positive x's, 0.01 for negative x's
        grad_input = torch.ones_like(input_)
        grad_input[input_ < 0] = 0.01
        # now, we need to rescale for the grad_output
        grad_input *= grad_output
        return grad_input


fun = LeakyReLU_Fun.apply
x = torch.linspace(-5, 5, 11, requires_grad=True)
y = fun(x)
z = y.sum()
z.backward()
print("x:", x)
print("x.grad:", x.grad)


class LeakyReLU_Better(torch.nn.Module):
    def __init__(self):
        super().__init__()

    def forward(self, X):
        return LeakyReLU_Fun.apply(X)


print("LeakyReLU_Better()(x):", LeakyReLU_Better()(x))
