"""d2l's automatic differentiation with Python control flow: `while b.norm() < 1000: b = b * 2`,
a gradient of 1024 or more that is exactly right."""
import torch

from gradtrace import trace


def f(a):
    b = a * 2
    while b.norm() < 1000:
        b = b * 2
    c = b if b.sum() > 0 else 100 * b
    return c


torch.manual_seed(0)
a = torch.randn(size=(), requires_grad=True)
with trace() as t:
    d = f(a)
    d.backward()
    assert a.grad == d / a
