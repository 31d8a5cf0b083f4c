"""A detach() between encoder and decoder: the encoder never gets a gradient."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

EXPECT = ("no_gradient", "encoder.weight")
torch.manual_seed(0)
encoder, decoder = nn.Linear(6, 4), nn.Linear(4, 6)
opt = torch.optim.Adam([*encoder.parameters(), *decoder.parameters()], lr=1e-3)
x = torch.randn(16, 6)
with trace() as t:
    for _ in range(2):
        opt.zero_grad()
        code = encoder(x).detach()  # <- no_gradient
        loss = F.mse_loss(decoder(code), x)
        loss.backward()
        opt.step()
