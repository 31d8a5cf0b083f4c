"""A sigmoid output passed to BCEWithLogitsLoss, which applies the sigmoid itself."""
import torch
from torch import nn

from gradtrace import trace

EXPECT = ("softmax_into_loss", "p")
torch.manual_seed(0)
model = nn.Linear(5, 1)
criterion = nn.BCEWithLogitsLoss()
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(16, 5), torch.randint(0, 2, (16, 1)).float()
with trace() as t:
    for _ in range(2):
        opt.zero_grad()
        p = torch.sigmoid(model(x))  # <- softmax_into_loss
        loss = criterion(p, y)
        loss.backward()
        opt.step()
