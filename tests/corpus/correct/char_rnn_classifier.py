"""PyTorch's "Classifying Names with a Character-Level RNN": a hand-written RNN cell, LogSoftmax
and NLLLoss, rnn.zero_grad() and `p.data.add_(p.grad.data, alpha=-learning_rate)`."""
import torch
from torch import nn

from gradtrace import trace

torch.manual_seed(0)


class RNN(nn.Module):
    def __init__(self, input_size, hidden_size, output_size):
        super().__init__()
        self.hidden_size = hidden_size
        self.i2h = nn.Linear(input_size + hidden_size, hidden_size)
        self.h2o = nn.Linear(input_size + hidden_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, input, hidden):
        combined = torch.cat((input, hidden), 1)
        hidden = self.i2h(combined)
        output = self.softmax(self.h2o(combined))
        return output, hidden

    def initHidden(self):
        return torch.zeros(1, self.hidden_size)


rnn = RNN(8, 16, 4)
criterion = nn.NLLLoss()
learning_rate = 0.005
names = [torch.eye(8)[torch.randint(0, 8, (5,))].unsqueeze(1) for _ in range(3)]
categories = [torch.tensor([i % 4]) for i in range(3)]
with trace() as t:
    for category_tensor, line_tensor in zip(categories, names):
        hidden = rnn.initHidden()
        rnn.zero_grad()
        for i in range(line_tensor.size(0)):
            output, hidden = rnn(line_tensor[i], hidden)
        loss = criterion(output, category_tensor)
        loss.backward()
        for p in rnn.parameters():
            p.data.add_(p.grad.data, alpha=-learning_rate)
