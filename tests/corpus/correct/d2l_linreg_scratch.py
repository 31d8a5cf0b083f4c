"""d2l's linear regression from scratch: minibatch SGD that divides by the batch size and zeroes
each parameter's gradient with param.grad.zero_()."""
import torch

from gradtrace import trace

torch.manual_seed(0)
true_w, true_b = torch.tensor([2, -3.4]), 4.2
features = torch.normal(0, 1, (40, 2))
labels = (features @ true_w + true_b + torch.normal(0, 0.01, (40,))).reshape(-1, 1)
w = torch.normal(0, 0.01, size=(2, 1), requires_grad=True)
b = torch.zeros(1, requires_grad=True)


def linreg(X, w, b):
    return torch.matmul(X, w) + b


def squared_loss(y_hat, y):
    return (y_hat - y.reshape(y_hat.shape)) ** 2 / 2


def sgd(params, lr, batch_size):
    with torch.no_grad():
        for param in params:
            param -= lr * param.grad / batch_size
            param.grad.zero_()


lr, batch_size = 0.03, 10
with trace() as t:
    for i in range(4):
        X, y = features[i * 10:(i + 1) * 10], labels[i * 10:(i + 1) * 10]
        l = squared_loss(linreg(X, w, b), y)
        l.sum().backward()
        sgd([w, b], lr, batch_size)
