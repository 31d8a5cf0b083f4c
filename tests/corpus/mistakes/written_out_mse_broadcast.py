"""A squared error written out, ((pred - y) ** 2).mean(), with pred (N, 1) and y (N,)."""
import torch
from torch import nn

from gradtrace import trace

EXPECT = ("loss_broadcast", "err")
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(3, 16), nn.ReLU(), nn.Linear(16, 1))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
x, y = torch.randn(12, 3), torch.randn(12)
with trace() as t:
    for _ in range(2):
        opt.zero_grad()
        pred = model(x)
        err = pred - y  # <- loss_broadcast
        loss = (err ** 2).mean()
        loss.backward()
        opt.step()
