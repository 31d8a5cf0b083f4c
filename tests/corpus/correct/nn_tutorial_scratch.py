"""PyTorch's "What is torch.nn really?" from scratch: hand-written model, loss and update."""
import math

import torch

from gradtrace import trace

torch.manual_seed(0)
x_train, y_train = torch.randn(64, 20), torch.randint(0, 10, (64,))
weights = torch.randn(20, 10) / math.sqrt(20)
weights.requires_grad_()
bias = torch.zeros(10, requires_grad=True)


def log_softmax(x):
    return x - x.exp().sum(-1).log().unsqueeze(-1)


def model(xb):
    return log_softmax(xb @ weights + bias)


def nll(input, target):
    return -input[range(target.shape[0]), target].mean()


lr, bs = 0.5, 16
with trace() as t:
    for i in range(3):
        xb, yb = x_train[i * bs:(i + 1) * bs], y_train[i * bs:(i + 1) * bs]
        loss = nll(model(xb), yb)
        loss.backward()
        with torch.no_grad():
            weights -= weights.grad * lr
            bias -= bias.grad * lr
            weights.grad.zero_()
            bias.grad.zero_()
