"""Backpropagation through modules: y = sigmoid(w^T x) with the lab's bce_loss, ground truth 1."""

import torch


class TrivialBackpropagationExample(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.module1 = torch.nn.Linear(in_features=5, out_features=1, bias=False)
        self.module1.weight.data = torch.Tensor([3, 0, 1, -3, .5])

    def forward(self, data):
        return torch.sigmoid(self.module1(data))


# As the lab writes it. The textbook BCE is -(y * y_hat.log() + (1 - y) * (1 - y_hat).log()):
# this one logs the ground truth instead, and the lab's printed gradient comes from this version.
def bce_loss(y_hat, y):
    return (-1/len(y)) * (y_hat * y.log() + (1 - y_hat) * (1 - y.log())) .sum()


ground_truth = torch.tensor([1.0])

model = TrivialBackpropagationExample()

x = torch.tensor([1, 2, -1, 3, 5], dtype=torch.float32, requires_grad=True)

y_hat = model(x)
print("y_hat:", y_hat)

loss = bce_loss(y_hat, ground_truth)
print("loss:", loss)

loss.backward()

print("x.grad:", x.grad)
