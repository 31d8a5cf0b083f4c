"""model.zero_grad(set_to_none=False) (the default before torch 2.0): .grad kept and zeroed in
place before each backward, Adam with weight decay."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(6, 12), nn.Tanh(), nn.Linear(12, 2))
opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)
x, y = torch.randn(20, 6), torch.randint(0, 2, (20,))
with trace() as t:
    for _ in range(3):
        model.zero_grad(set_to_none=False)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
