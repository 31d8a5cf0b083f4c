"""pytorch/examples mnist: conv net with dropout, log_softmax and nll_loss, Adadelta with StepLR,
a test pass in eval mode under no_grad after each epoch."""
import torch
import torch.nn.functional as F
from torch import nn, optim

from gradtrace import trace

torch.manual_seed(1)


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, 1)
        self.conv2 = nn.Conv2d(4, 8, 3, 1)
        self.dropout1 = nn.Dropout(0.25)
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(8 * 5 * 5, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(self.dropout1(x), 1)
        x = self.dropout2(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


model = Net()
optimizer = optim.Adadelta(model.parameters(), lr=1.0)
scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
train = [(torch.randn(8, 1, 14, 14), torch.randint(0, 10, (8,))) for _ in range(2)]
test_data, test_target = torch.randn(8, 1, 14, 14), torch.randint(0, 10, (8,))
with trace() as t:
    for epoch in range(2):
        model.train()
        for data, target in train:
            optimizer.zero_grad()
            loss = F.nll_loss(model(data), target)
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            test_loss = F.nll_loss(model(test_data), test_target, reduction="sum").item()
        scheduler.step()
