"""PyTorch's "Learning PyTorch with Examples", nn version: Linear(3, 1) on x, x², x³, MSELoss with
reduction='sum', model.zero_grad() and a hand-written update of each parameter."""
import math

import torch

from gradtrace import trace

x = torch.linspace(-math.pi, math.pi, 2000)
y = torch.sin(x)
xx = x.unsqueeze(-1).pow(torch.tensor([1, 2, 3]))
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(3, 1), torch.nn.Flatten(0, 1))
loss_fn = torch.nn.MSELoss(reduction="sum")
learning_rate = 1e-6
with trace() as t:
    for _ in range(4):
        y_pred = model(xx)
        loss = loss_fn(y_pred, y)
        model.zero_grad()
        loss.backward()
        with torch.no_grad():
            for param in model.parameters():
                param -= learning_rate * param.grad
