"""A training loop under gradtrace: each optimizer step is a new version of every parameter."""

import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))

with trace() as t:
    for step in range(3):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        print(f"step {step + 1}: loss {loss.item():.4f}")

print(t.updates[["call", "parameter", "loss", "grad_norm", "update_norm", "update_ratio"]]
      .to_string(index=False, float_format="%.4g"))
print("versions of model.2.bias:", [v.op for v in t.versions("model.2.bias")])
print("model.2.bias.grad:", model[2].bias.grad)
print("t.grad('model.2.bias'):", t.grad("model.2.bias"))
print("warnings:", t.warnings)
