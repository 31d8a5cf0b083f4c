"""An in-place scaling of a sigmoid's output, which sigmoid saved for its backward."""
import torch

from gradtrace import trace

EXPECT = ("inplace", "h")
torch.manual_seed(0)
w = torch.randn(4, 3, requires_grad=True)
x = torch.randn(5, 4)
try:
    with trace() as t:
        h = torch.sigmoid(x @ w)
        h.mul_(2)  # <- inplace
        h.sum().backward()
except RuntimeError:
    pass
