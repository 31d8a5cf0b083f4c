"""Twelve sigmoid layers at default init: the first layers get almost no gradient."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

EXPECT = ("vanishing", "model.0.weight")
torch.manual_seed(0)
layers = []
for _ in range(12):
    layers += [nn.Linear(16, 16), nn.Sigmoid()]
model = nn.Sequential(*layers, nn.Linear(16, 2))
opt = torch.optim.SGD(model.parameters(), lr=0.01)
x, y = torch.randn(32, 16), torch.randint(0, 2, (32,))
with trace() as t:
    for _ in range(2):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()  # <- vanishing
        opt.step()
