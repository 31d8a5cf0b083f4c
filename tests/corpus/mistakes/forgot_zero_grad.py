"""A training loop without optimizer.zero_grad(): each step uses the sum of every pass so far."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

EXPECT = ("accumulation", "model.0.weight")
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
with trace() as t:
    for _ in range(3):
        loss = F.cross_entropy(model(x), y)
        loss.backward()  # <- accumulation
        opt.step()
