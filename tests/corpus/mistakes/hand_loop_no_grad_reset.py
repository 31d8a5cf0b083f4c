"""The nn tutorial's hand-written loop without `weights.grad.zero_()`: each update subtracts the
sum of all gradients so far."""
import torch
import torch.nn.functional as F

from gradtrace import trace

EXPECT = ("accumulation", "weights")
torch.manual_seed(0)
x, y = torch.randn(48, 20), torch.randint(0, 10, (48,))
weights = (torch.randn(20, 10) / 20 ** 0.5).requires_grad_()
bias = torch.zeros(10, requires_grad=True)
with trace() as t:
    for i in range(3):
        xb, yb = x[i * 16:(i + 1) * 16], y[i * 16:(i + 1) * 16]
        loss = F.cross_entropy(xb @ weights + bias, yb)
        loss.backward()  # <- accumulation
        with torch.no_grad():
            weights -= weights.grad * 0.5
            bias -= bias.grad * 0.5
