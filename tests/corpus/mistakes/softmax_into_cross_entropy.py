"""Probabilities from softmax passed to F.cross_entropy, which applies log_softmax itself."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

EXPECT = ("softmax_into_loss", "probs")
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
with trace() as t:
    for _ in range(2):
        opt.zero_grad()
        probs = F.softmax(model(x), dim=1)  # <- softmax_into_loss
        loss = F.cross_entropy(probs, y)
        loss.backward()
        opt.step()
