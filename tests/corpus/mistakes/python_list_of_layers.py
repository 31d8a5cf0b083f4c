"""Hidden layers kept in a Python list instead of nn.ModuleList: model.parameters() misses them,
so the optimizer never updates them."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

EXPECT = ("not_updated", "net.hidden[0].weight")
torch.manual_seed(0)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(4, 8)
        self.hidden = [nn.Linear(8, 8) for _ in range(2)]
        self.out = nn.Linear(8, 3)

    def forward(self, x):
        x = F.relu(self.inp(x))
        for layer in self.hidden:
            x = F.relu(layer(x))
        return self.out(x)


net = Net()
opt = torch.optim.SGD(net.parameters(), lr=0.1)
x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
with trace() as t:
    for _ in range(3):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()  # <- not_updated
