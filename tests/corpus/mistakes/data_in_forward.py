"""A forward pass that reads a layer's weight through .data: the weight gets no gradient."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

EXPECT = ("no_gradient", "proj.weight")
torch.manual_seed(0)


class Proj(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(6, 6) * 0.4)
        self.bias = nn.Parameter(torch.zeros(6))

    def forward(self, x):
        return x @ self.weight.data.T + self.bias  # <- no_gradient


proj, head = Proj(), nn.Linear(6, 2)
opt = torch.optim.SGD([*proj.parameters(), *head.parameters()], lr=0.1)
x, y = torch.randn(16, 6), torch.randint(0, 2, (16,))
with trace() as t:
    for _ in range(2):
        opt.zero_grad()
        h = proj(x)
        loss = F.cross_entropy(head(torch.relu(h)), y)
        loss.backward()
        opt.step()
