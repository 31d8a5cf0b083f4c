"""A loop that computes and backpropagates the loss but never calls optimizer.step()."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

MISS = "no update ran at all, so nothing tells a forgotten step from a gradient check"
torch.manual_seed(0)
model = nn.Linear(4, 3)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
with trace() as t:
    for _ in range(3):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
