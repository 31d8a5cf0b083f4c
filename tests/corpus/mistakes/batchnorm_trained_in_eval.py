"""A conv net with batch norm trained after model.eval(): BN normalises with its running
statistics and its affine parameters learn against them."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

EXPECT = ("eval_mode", "net.1")
torch.manual_seed(0)
net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                    nn.Flatten(), nn.Linear(8, 4))
opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
x, y = torch.randn(8, 3, 8, 8), torch.randint(0, 4, (8,))
net.eval()
with trace() as t:
    for _ in range(2):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)  # <- eval_mode
        loss.backward()
        opt.step()
