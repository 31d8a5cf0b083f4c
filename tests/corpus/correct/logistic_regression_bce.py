"""Logistic regression with sigmoid and BCELoss, plain SGD, a few epochs over mini-batches."""
import torch
from torch import nn

from gradtrace import trace

torch.manual_seed(0)
X = torch.randn(48, 3)
y = (X[:, :1] + 0.5 * X[:, 1:2] > 0).float()
model = nn.Sequential(nn.Linear(3, 1), nn.Sigmoid())
criterion = nn.BCELoss()
opt = torch.optim.SGD(model.parameters(), lr=0.5)
with trace() as t:
    for epoch in range(2):
        for i in range(0, 48, 16):
            opt.zero_grad()
            loss = criterion(model(X[i:i + 16]), y[i:i + 16])
            loss.backward()
            opt.step()
