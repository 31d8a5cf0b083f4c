"""Watch makemore part 3's deep tanh network train: per-layer health, its figure and its warnings."""

import sys

import torch
import torch.nn.functional as F

import gradtrace

steps = int(sys.argv[1]) if len(sys.argv) > 1 else 20  # python examples/13_watch.py 2000 fig.png
g = torch.Generator().manual_seed(2147483647)


class Linear:
    def __init__(self, fan_in, fan_out):
        self.weight = torch.randn((fan_in, fan_out), generator=g) / fan_in**0.5

    def __call__(self, x):
        self.out = x @ self.weight
        return self.out

    def parameters(self):
        return [self.weight]


class BatchNorm1d:
    def __init__(self, dim, eps=1e-5):
        self.eps = eps
        self.gamma = torch.ones(dim)
        self.beta = torch.zeros(dim)

    def __call__(self, x):
        xhat = (x - x.mean(0, keepdim=True)) / torch.sqrt(x.var(0, keepdim=True) + self.eps)
        self.out = self.gamma * xhat + self.beta
        return self.out

    def parameters(self):
        return [self.gamma, self.beta]


class Tanh:
    def __call__(self, x):
        self.out = torch.tanh(x)
        return self.out

    def parameters(self):
        return []


n_embd, n_hidden, vocab_size, block_size = 10, 64, 27, 3
X = torch.randint(0, vocab_size, (2000, block_size), generator=g)
Y = (X[:, 0] + 2 * X[:, 1] + X[:, 2]) % vocab_size  # a rule the network can learn
C = torch.randn((vocab_size, n_embd), generator=g)
layers = [Linear(n_embd * block_size, n_hidden), BatchNorm1d(n_hidden), Tanh()]
for _ in range(3):
    layers += [Linear(n_hidden, n_hidden), BatchNorm1d(n_hidden), Tanh()]
layers += [Linear(n_hidden, vocab_size), BatchNorm1d(vocab_size)]
with torch.no_grad():
    layers[-1].gamma *= 0.1  # a less confident last layer
    for layer in layers[:-1]:
        if isinstance(layer, Linear):
            layer.weight *= 5 / 3  # tanh's gain
parameters = [C] + [p for layer in layers for p in layer.parameters()]
for p in parameters:
    p.requires_grad = True

with gradtrace.watch(parameters, every=max(1, steps // 20)) as w:
    for i in range(steps):
        ix = torch.randint(0, X.shape[0], (32,), generator=g)
        x = C[X[ix]].view(32, -1)
        for layer in layers:
            x = layer(x)
        loss = F.cross_entropy(x, Y[ix])
        for p in parameters:
            p.grad = None
        loss.backward()
        lr = 0.1
        for p in parameters:
            p.data += -lr * p.grad

latest = w.history[w.history.iteration == w.history.iteration.max()]
print(latest[["iteration", "name", "std", "saturated", "grad_data_ratio", "update_data_ratio"]]
      .to_string(index=False, float_format="%.4g"))
print("layers[2].out.std():", layers[2].out.std())
for d in w.warnings:
    print(d)
if len(sys.argv) > 2:
    w.plot(sys.argv[2])
