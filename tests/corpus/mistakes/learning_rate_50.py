"""SGD with a learning rate of 50: each step moves the weights by many times their size."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

EXPECT = ("update_ratio", "model.0.weight")
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
opt = torch.optim.SGD(model.parameters(), lr=50.0)
x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
with trace() as t:
    for _ in range(2):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()  # <- update_ratio
