"""mse_loss of a (8, 1) prediction against a (8,) target: broadcast to (8, 8)."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

EXPECT = ("loss_broadcast", "loss")
torch.manual_seed(0)
model = nn.Linear(3, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.01)
x, y = torch.randn(8, 3), torch.randn(8)
with trace() as t:
    for _ in range(2):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)  # <- loss_broadcast
        loss.backward()
        opt.step()
