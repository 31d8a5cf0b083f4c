"""`total_loss += loss` with the loss tensor: every iteration's graph stays alive."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

EXPECT = ("graph_kept", "total_loss")
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
with trace() as t:
    total_loss = 0
    for _ in range(3):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        total_loss += loss  # <- graph_kept
    print_loss = float(total_loss) / 3
