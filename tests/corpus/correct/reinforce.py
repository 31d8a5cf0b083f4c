"""pytorch/examples reinforcement_learning/reinforce: a policy's softmax into a Categorical, the
log-probabilities of sampled actions times normalised returns."""
import torch
import torch.nn.functional as F
from torch import nn, optim
from torch.distributions import Categorical

from gradtrace import trace

torch.manual_seed(543)


class Policy(nn.Module):
    def __init__(self):
        super().__init__()
        self.affine1 = nn.Linear(4, 32)
        self.dropout = nn.Dropout(p=0.6)
        self.affine2 = nn.Linear(32, 2)

    def forward(self, x):
        x = F.relu(self.dropout(self.affine1(x)))
        return F.softmax(self.affine2(x), dim=1)


policy = Policy()
optimizer = optim.Adam(policy.parameters(), lr=1e-2)
eps = torch.finfo(torch.float32).eps
with trace() as t:
    for episode in range(2):
        log_probs, rewards = [], []
        for step in range(5):
            probs = policy(torch.randn(1, 4))
            m = Categorical(probs)
            action = m.sample()
            log_probs.append(m.log_prob(action))
            rewards.append(float(action.item()))
        R, returns = 0, []
        for r in rewards[::-1]:
            R = r + 0.99 * R
            returns.insert(0, R)
        returns = torch.tensor(returns)
        returns = (returns - returns.mean()) / (returns.std() + eps)
        policy_loss = torch.cat([-lp * R for lp, R in zip(log_probs, returns)]).sum()
        optimizer.zero_grad()
        policy_loss.backward()
        optimizer.step()
