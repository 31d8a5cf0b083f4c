"""Pre-1.0 tutorial style: `w.data -= lr * w.grad.data` then `w.grad.data.zero_()`, and the
`grad.detach_(); grad.zero_()` that Module.zero_grad once did."""
import torch

from gradtrace import trace

torch.manual_seed(0)
x, y = torch.randn(32, 4), torch.randn(32, 1)
w1 = torch.randn(4, 8, requires_grad=True)
w2 = torch.randn(8, 1, requires_grad=True)
with trace() as t:
    for _ in range(3):
        y_pred = x.mm(w1).clamp(min=0).mm(w2)
        loss = (y_pred - y).pow(2).mean()
        loss.backward()
        w1.data -= 1e-2 * w1.grad.data
        w2.data -= 1e-2 * w2.grad.data
        w1.grad.data.zero_()
        w2.grad.detach_()
        w2.grad.zero_()
