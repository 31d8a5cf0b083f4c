"""A parametric (non-trainable) module: ParamReLU = max(alpha * x, x) with alpha = 0.25."""

import torch


class ParamReLU_Fun(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input_, alpha: float):
        assert alpha >= 0 and alpha < 1, f"alpha should be >= 0 and < 1. Found {alpha}."
        ctx.save_for_backward(input_)
        ctx.alpha = alpha  # note that we don't use self.alpha: we need to store it!
        return torch.max(input_, input_ * alpha)

    @staticmethod
    def backward(ctx, grad_output):
        input_, = ctx.saved_tensors
        grad_input = grad_output.clone()
        grad_input[input_ < 0] *= ctx.alpha
        return grad_input, None  # alpha is a plain float: it gets no gradient


class ParamReLU(torch.nn.Module):
    def __init__(self, alpha):
        super().__init__()
        self.alpha = alpha

    def forward(self, X):
        return ParamReLU_Fun.apply(X, self.alpha)


prelu = ParamReLU(0.25)
x = torch.linspace(-5, 5, 11, requires_grad=True)
y = prelu(x)
z = y.sum()
z.backward()
print("y:", y)
print("x.grad:", x.grad)
