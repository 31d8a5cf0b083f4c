"""A forward pass that reads a layer's weight through .data: the weight gets no gradient."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

EXPECT = ("no_gradient", "proj.weight")
torch.manual_seed(0)
proj, head = nn.Linear(6, 6), nn.Linear(6, 2)
opt = torch.optim.SGD([*proj.parameters(), *head.parameters()], lr=0.1)
x, y = torch.randn(16, 6), torch.randint(0, 2, (16,))
with trace() as t:
    for _ in range(2):
        opt.zero_grad()
        h = x @ proj.weight.data.T + proj.bias  # <- no_gradient
        loss = F.cross_entropy(head(torch.relu(h)), y)
        loss.backward()
        opt.step()
