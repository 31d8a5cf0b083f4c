"""micrograd's MLP demo in PyTorch: neurons as plain classes holding tensors, tanh, a squared
loss, `p.grad = None` for every parameter and `p.data += -lr * p.grad`."""
import torch

from gradtrace import trace

torch.manual_seed(0)


class Layer:
    def __init__(self, nin, nout):
        self.w = torch.empty(nin, nout).uniform_(-1, 1).requires_grad_()
        self.b = torch.empty(nout).uniform_(-1, 1).requires_grad_()

    def __call__(self, x):
        return torch.tanh(x @ self.w + self.b)

    def parameters(self):
        return [self.w, self.b]


class MLP:
    def __init__(self, nin, nouts):
        sizes = [nin, *nouts]
        self.layers = [Layer(sizes[i], sizes[i + 1]) for i in range(len(nouts))]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]


xs = torch.tensor([[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]])
ys = torch.tensor([1.0, -1.0, -1.0, 1.0])
n = MLP(3, [4, 4, 1])
with trace() as t:
    for k in range(4):
        ypred = n(xs).squeeze(-1)
        loss = ((ypred - ys) ** 2).sum()
        for p in n.parameters():
            p.grad = None
        loss.backward()
        for p in n.parameters():
            p.data += -0.05 * p.grad
