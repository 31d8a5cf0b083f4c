"""d2l's concise softmax regression: Flatten + Linear initialised with normal(0, 0.01),
CrossEntropyLoss, SGD at lr 0.1."""
import torch
from torch import nn

from gradtrace import trace

torch.manual_seed(0)
net = nn.Sequential(nn.Flatten(), nn.Linear(16, 10))


def init_weights(m):
    if type(m) is nn.Linear:
        nn.init.normal_(m.weight, std=0.01)


net.apply(init_weights)
loss = nn.CrossEntropyLoss(reduction="none")
trainer = torch.optim.SGD(net.parameters(), lr=0.1)
X, y = torch.randn(32, 4, 4), torch.randint(0, 10, (32,))
with trace() as t:
    for _ in range(3):
        l = loss(net(X), y)
        trainer.zero_grad()
        l.mean().backward()
        trainer.step()
