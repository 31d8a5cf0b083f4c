"""An RNN language model whose hidden state is carried between batches without detach(): the
second backward runs into the first batch's freed graph."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

EXPECT = ("backward_twice", "loss")
torch.manual_seed(0)
rnn, decoder = nn.RNN(4, 8), nn.Linear(8, 4)
opt = torch.optim.SGD([*rnn.parameters(), *decoder.parameters()], lr=0.1)
data = torch.randn(12, 2, 4)
targets = torch.randint(0, 4, (12, 2))
hidden = torch.zeros(1, 2, 8)
try:
    with trace() as t:
        for i in range(0, 12, 4):
            opt.zero_grad()
            output, hidden = rnn(data[i:i + 4], hidden)
            loss = F.cross_entropy(decoder(output).view(-1, 4), targets[i:i + 4].reshape(-1))
            loss.backward()  # <- backward_twice
            opt.step()
except RuntimeError:
    pass
