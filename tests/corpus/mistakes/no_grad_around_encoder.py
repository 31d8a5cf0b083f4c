"""The encoder run under torch.no_grad() inside the training step (copied from evaluation
code): only the head learns."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

EXPECT = ("no_gradient", "encoder.0.weight")
torch.manual_seed(0)
encoder, head = nn.Sequential(nn.Linear(6, 8), nn.ReLU()), nn.Linear(8, 2)
opt = torch.optim.SGD([*encoder.parameters(), *head.parameters()], lr=0.1)
x, y = torch.randn(16, 6), torch.randint(0, 2, (16,))
with trace() as t:
    for _ in range(2):
        opt.zero_grad()
        with torch.no_grad():
            features = encoder(x)  # <- no_gradient
        loss = F.cross_entropy(head(features), y)
        loss.backward()
        opt.step()
