"""WGAN-GP (Gulrajani et al., as the PyTorch ports write it): the gradient penalty from
torch.autograd.grad(create_graph=True) on interpolates, five critic steps per generator step."""
import torch
from torch import autograd, nn

from gradtrace import trace

torch.manual_seed(0)
G = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 8))
D = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 1))
optD = torch.optim.Adam(D.parameters(), lr=1e-4, betas=(0.5, 0.9))
optG = torch.optim.Adam(G.parameters(), lr=1e-4, betas=(0.5, 0.9))
real = torch.randn(8, 8)


def gradient_penalty(D, real, fake):
    alpha = torch.rand(real.size(0), 1)
    interpolates = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    d_interpolates = D(interpolates)
    gradients = autograd.grad(outputs=d_interpolates, inputs=interpolates,
                              grad_outputs=torch.ones_like(d_interpolates),
                              create_graph=True, retain_graph=True)[0]
    return ((gradients.norm(2, dim=1) - 1) ** 2).mean()


with trace() as t:
    for _ in range(2):
        for _ in range(5):
            optD.zero_grad()
            fake = G(torch.randn(8, 4)).detach()
            d_loss = D(fake).mean() - D(real).mean() + 10 * gradient_penalty(D, real, fake)
            d_loss.backward()
            optD.step()
        optG.zero_grad()
        g_loss = -D(G(torch.randn(8, 4))).mean()
        g_loss.backward()
        optG.step()
