"""PyTorch's transfer-learning tutorial, feature extractor: a pretrained-style backbone frozen
(requires_grad False, kept in eval), a new head trained, StepLR scheduler."""
import torch
from torch import nn, optim

from gradtrace import trace

torch.manual_seed(0)
backbone = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Dropout(0.2), nn.AdaptiveAvgPool2d(1), nn.Flatten())
for param in backbone.parameters():
    param.requires_grad = False
model = nn.Sequential(backbone, nn.Linear(8, 2))
criterion = nn.CrossEntropyLoss()
optimizer = optim.SGD(model[1].parameters(), lr=0.001, momentum=0.9)
scheduler = optim.lr_scheduler.StepLR(optimizer, step_size=7, gamma=0.1)
inputs, labels = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 1, 0])
with trace() as t:
    model.train()
    backbone.eval()
    for _ in range(3):
        optimizer.zero_grad()
        with torch.set_grad_enabled(True):
            outputs = model(inputs)
            loss = criterion(outputs, labels)
            loss.backward()
            optimizer.step()
        scheduler.step()
