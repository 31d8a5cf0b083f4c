"""nn.Softmax as the model's last layer, trained with nn.CrossEntropyLoss."""
import torch
from torch import nn

from gradtrace import trace

EXPECT = ("softmax_into_loss", "output")
torch.manual_seed(0)
model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.Softmax(dim=1))
criterion = nn.CrossEntropyLoss()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
with trace() as t:
    for _ in range(2):
        opt.zero_grad()
        output = model(x)  # <- softmax_into_loss
        loss = criterion(output, y)
        loss.backward()
        opt.step()
