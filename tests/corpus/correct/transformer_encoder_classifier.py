"""nn.TransformerEncoder classifier with dropout, Adam, and a validation loss computed in eval
mode without no_grad (its graph is never backpropagated) before model.train() again."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

torch.manual_seed(0)


class Classifier(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(20, 16)
        layer = nn.TransformerEncoderLayer(16, 2, dim_feedforward=32, dropout=0.1,
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.head = nn.Linear(16, 3)

    def forward(self, x):
        return self.head(self.encoder(self.embed(x)).mean(1))


model = Classifier()
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
x, y = torch.randint(0, 20, (8, 6)), torch.randint(0, 3, (8,))
xv, yv = torch.randint(0, 20, (8, 6)), torch.randint(0, 3, (8,))
with trace() as t:
    for epoch in range(2):
        model.train()
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        model.eval()
        val_loss = F.cross_entropy(model(xv), yv).item()
