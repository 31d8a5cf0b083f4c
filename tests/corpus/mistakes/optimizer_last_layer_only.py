"""An optimizer given only the last layer's parameters while the whole model trains."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

EXPECT = ("not_updated", "model.0.weight")
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
opt = torch.optim.SGD(model[2].parameters(), lr=0.1)
x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
with trace() as t:
    for _ in range(3):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()  # <- not_updated
