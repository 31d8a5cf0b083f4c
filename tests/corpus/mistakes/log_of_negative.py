"""A hand-written log-likelihood of a linear output that can be negative: log gives NaN."""
import torch
from torch import nn

from gradtrace import trace

EXPECT = ("nan", "logp")
torch.manual_seed(0)
model = nn.Linear(3, 1)
opt = torch.optim.SGD(model.parameters(), lr=0.01)
x = torch.randn(8, 3)
with trace() as t:
    opt.zero_grad()
    rate = model(x)
    logp = torch.log(rate)  # <- nan
    loss = -logp.mean()
    loss.backward()
    opt.step()
