"""pytorch/examples word_language_model: an LSTM with dropout, hidden state repackaged (detached)
between batches, clip_grad_norm_, model.zero_grad() and a hand-written SGD update."""
import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

torch.manual_seed(0)


class RNNModel(nn.Module):
    def __init__(self, ntoken, ninp, nhid):
        super().__init__()
        self.drop = nn.Dropout(0.2)
        self.encoder = nn.Embedding(ntoken, ninp)
        self.rnn = nn.LSTM(ninp, nhid)
        self.decoder = nn.Linear(nhid, ntoken)

    def forward(self, input, hidden):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        return self.decoder(self.drop(output)), hidden


ntokens, bptt, batch = 30, 5, 4
model = RNNModel(ntokens, 16, 16)
data = torch.randint(0, ntokens, (16, batch))
hidden = (torch.zeros(1, batch, 16), torch.zeros(1, batch, 16))
lr = 20.0
with trace() as t:
    model.train()
    for i in range(0, 15 - bptt, bptt):
        source, targets = data[i:i + bptt], data[i + 1:i + 1 + bptt]
        hidden = tuple(h.detach() for h in hidden)
        model.zero_grad()
        output, hidden = model(source, hidden)
        loss = F.cross_entropy(output.view(-1, ntokens), targets.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 0.25)
        for p in model.parameters():
            p.data.add_(p.grad, alpha=-lr)
