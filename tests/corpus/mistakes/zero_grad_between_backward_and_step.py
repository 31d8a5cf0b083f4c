"""optimizer.zero_grad() placed between backward() and step(): every step sees no gradient."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

EXPECT = ("step_without_gradient", "model.0.weight")
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
with trace() as t:
    for _ in range(3):
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.zero_grad()  # <- step_without_gradient
        opt.step()
