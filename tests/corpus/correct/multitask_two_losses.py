"""Two task losses on a shared trunk, each backpropagated on its own (retain_graph for the
first), summed in .grad before one optimizer step."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

torch.manual_seed(0)
trunk = nn.Sequential(nn.Linear(10, 16), nn.ReLU())
head_a, head_b = nn.Linear(16, 3), nn.Linear(16, 1)
params = [*trunk.parameters(), *head_a.parameters(), *head_b.parameters()]
opt = torch.optim.Adam(params, lr=1e-3)
x, ya, yb = torch.randn(16, 10), torch.randint(0, 3, (16,)), torch.randn(16, 1)
with trace() as t:
    for _ in range(3):
        opt.zero_grad()
        features = trunk(x)
        loss_a = F.cross_entropy(head_a(features), ya)
        loss_b = F.mse_loss(head_b(features), yb)
        loss_a.backward(retain_graph=True)
        (0.5 * loss_b).backward()
        opt.step()
