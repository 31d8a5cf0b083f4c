"""Homework: an MLP on 10 random points, cross-entropy as a formula, the first layer's grads."""

import torch
import torch.nn.functional as F

torch.manual_seed(0)


class MLP(torch.nn.Module):
    def __init__(self, in_features=5, hidden=6, classes=4):
        super().__init__()
        self.fc1 = torch.nn.Linear(in_features, hidden)
        self.fc2 = torch.nn.Linear(hidden, hidden)
        self.fc3 = torch.nn.Linear(hidden, classes)

    def forward(self, X):
        X = torch.relu(self.fc1(X))
        X = torch.relu(self.fc2(X))
        return self.fc3(X)


model = MLP()
x = torch.rand(10, 5)
targets = torch.tensor([1, 2, 3, 4, 1, 2, 3, 4, 1, 2]) - 1  # classes 1..4 -> indices 0..3

y_hat = model(x).softmax(dim=1)
y = F.one_hot(targets, num_classes=4)
# CE(y, y_hat) = -1/10 * sum_i y_i^T log(y_hat_i)
loss = -1 / len(x) * (y * y_hat.log()).sum()
print("loss:", loss)

loss.backward()
print("fc1.weight.grad:", model.fc1.weight.grad)
print("fc1.bias.grad:", model.fc1.bias.grad)
