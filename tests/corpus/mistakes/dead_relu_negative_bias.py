"""A hidden layer whose bias was set to -10: its ReLU is zero for the whole batch."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

EXPECT = ("dead_relu", "h")
torch.manual_seed(0)
fc1, fc2 = nn.Linear(4, 16), nn.Linear(16, 3)
nn.init.constant_(fc1.bias, -10.0)
opt = torch.optim.SGD([*fc1.parameters(), *fc2.parameters()], lr=0.1)
x, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
with trace() as t:
    for _ in range(2):
        opt.zero_grad()
        h = F.relu(fc1(x))  # <- dead_relu
        loss = F.cross_entropy(fc2(h), y)
        loss.backward()
        opt.step()
