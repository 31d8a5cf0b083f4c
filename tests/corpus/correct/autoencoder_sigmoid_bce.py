"""An autoencoder whose sigmoid output goes into BCELoss: probabilities where probabilities are
expected."""
import torch
from torch import nn

from gradtrace import trace

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(32, 8), nn.ReLU(), nn.Linear(8, 32), nn.Sigmoid())
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
criterion = nn.BCELoss()
x = torch.rand(16, 32)
with trace() as t:
    for _ in range(3):
        opt.zero_grad()
        loss = criterion(model(x), x)
        loss.backward()
        opt.step()
