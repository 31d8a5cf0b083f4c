"""A learnable scale kept as a plain tensor attribute with requires_grad instead of
nn.Parameter: it gets gradients but model.parameters() does not list it."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

EXPECT = ("not_updated", "net.scale")
torch.manual_seed(0)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.scale = torch.ones(3, requires_grad=True)

    def forward(self, x):
        return self.fc(x) * self.scale


net = Net()
opt = torch.optim.SGD(net.parameters(), lr=0.1)
x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
with trace() as t:
    for _ in range(3):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()  # <- not_updated
