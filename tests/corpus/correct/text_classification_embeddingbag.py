"""PyTorch's text classification tutorial: EmbeddingBag with offsets, a linear layer, SGD at
lr 5 with StepLR, clip_grad_norm_(0.1), and an evaluation under no_grad with model.eval()."""
import torch
from torch import nn

from gradtrace import trace

torch.manual_seed(0)


class TextClassificationModel(nn.Module):
    def __init__(self, vocab_size, embed_dim, num_class):
        super().__init__()
        self.embedding = nn.EmbeddingBag(vocab_size, embed_dim, sparse=False)
        self.fc = nn.Linear(embed_dim, num_class)
        initrange = 0.5
        self.embedding.weight.data.uniform_(-initrange, initrange)
        self.fc.weight.data.uniform_(-initrange, initrange)
        self.fc.bias.data.zero_()

    def forward(self, text, offsets):
        return self.fc(self.embedding(text, offsets))


model = TextClassificationModel(40, 8, 4)
criterion = nn.CrossEntropyLoss()
optimizer = torch.optim.SGD(model.parameters(), lr=5)
scheduler = torch.optim.lr_scheduler.StepLR(optimizer, 1.0, gamma=0.1)
text, offsets = torch.randint(0, 40, (30,)), torch.tensor([0, 7, 15, 22])
label = torch.tensor([0, 1, 2, 3])
with trace() as t:
    for epoch in range(2):
        model.train()
        for _ in range(2):
            optimizer.zero_grad()
            predicted_label = model(text, offsets)
            loss = criterion(predicted_label, label)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 0.1)
            optimizer.step()
        model.eval()
        with torch.no_grad():
            accuracy = (model(text, offsets).argmax(1) == label).float().mean()
        scheduler.step()
