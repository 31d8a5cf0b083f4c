"""model.eval() for a validation pass, and no model.train() before training again: dropout stays
off for every later step."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

EXPECT = ("eval_mode", "model.2")
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
xv, yv = torch.randn(8, 4), torch.randint(0, 3, (8,))
with trace() as t:
    model.train()
    for epoch in range(3):
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)  # <- eval_mode
        loss.backward()
        opt.step()
        model.eval()
        with torch.no_grad():
            val = F.cross_entropy(model(xv), yv)
