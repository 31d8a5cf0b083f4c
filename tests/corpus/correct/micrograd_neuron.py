"""micrograd's neuron in PyTorch: o = tanh(x1·w1 + x2·w2 + b), in double precision."""
import torch

from gradtrace import trace

with trace() as t:
    x1 = torch.Tensor([2.0]).double(); x1.requires_grad = True  # noqa: E702
    x2 = torch.Tensor([0.0]).double(); x2.requires_grad = True  # noqa: E702
    w1 = torch.Tensor([-3.0]).double(); w1.requires_grad = True  # noqa: E702
    w2 = torch.Tensor([1.0]).double(); w2.requires_grad = True  # noqa: E702
    b = torch.Tensor([6.8813735870195432]).double(); b.requires_grad = True  # noqa: E702
    n = x1 * w1 + x2 * w2 + b
    o = torch.tanh(n)
    o.backward()
