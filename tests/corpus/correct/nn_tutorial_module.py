"""PyTorch's "What is torch.nn really?" refactored: nn.Module, optim.SGD, validation under no_grad."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

torch.manual_seed(0)
x_train, y_train = torch.randn(64, 20), torch.randint(0, 10, (64,))
x_valid, y_valid = torch.randn(32, 20), torch.randint(0, 10, (32,))


class Mnist_Logistic(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(20, 10)

    def forward(self, xb):
        return self.lin(xb)


model = Mnist_Logistic()
opt = torch.optim.SGD(model.parameters(), lr=0.5)
with trace() as t:
    for epoch in range(2):
        model.train()
        for i in range(2):
            xb, yb = x_train[i * 32:(i + 1) * 32], y_train[i * 32:(i + 1) * 32]
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            opt.zero_grad()
        model.eval()
        with torch.no_grad():
            valid_loss = F.cross_entropy(model(x_valid), y_valid)
