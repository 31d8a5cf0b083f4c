"""Linear regression on unscaled features (values near 10) with SGD at lr 0.01: every step
overshoots and the gradients grow without bound."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

EXPECT = ("exploding", "model.weight")
torch.manual_seed(0)
model = nn.Linear(4, 2)
opt = torch.optim.SGD(model.parameters(), lr=0.01)
x = torch.randn(32, 4) * 3 + 10
y = torch.randn(32, 2)
with trace() as t:
    for step in range(8):
        opt.zero_grad()
        loss = F.mse_loss(model(x), y)
        loss.backward()  # <- exploding
        opt.step()
