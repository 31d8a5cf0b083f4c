"""A (batch, time, channels) tensor reshaped with view where permute was meant: the numbers
are scrambled across examples, which no gradient shows."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

MISS = "the values are valid numbers; only the meaning is wrong"
torch.manual_seed(0)
conv = nn.Conv1d(4, 8, 3, padding=1)
opt = torch.optim.SGD(conv.parameters(), lr=0.1)
x, y = torch.randn(2, 10, 4), torch.randn(2, 8, 10)
with trace() as t:
    for _ in range(2):
        opt.zero_grad()
        out = conv(x.view(2, 4, 10))
        loss = F.mse_loss(out, y)
        loss.backward()
        opt.step()
