"""Reading .grad of a hidden activation that was not retained: None in plain PyTorch."""
import torch
from torch import nn

from gradtrace import trace

EXPECT = ("non_leaf_grad", "hidden")
torch.manual_seed(0)
fc1, fc2 = nn.Linear(4, 8), nn.Linear(8, 1)
x = torch.randn(5, 4)
with trace() as t:
    hidden = torch.relu(fc1(x))
    out = fc2(hidden).sum()
    out.backward()
    saliency = hidden.grad  # <- non_leaf_grad
