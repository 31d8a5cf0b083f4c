"""makemore part 3 before its fix: W1 and b1 from randn unscaled, so tanh sits at ±1."""
import torch
import torch.nn.functional as F

from gradtrace import trace

EXPECT = ("saturated", "h")
g = torch.Generator().manual_seed(2147483647)
X, Y = torch.randint(0, 27, (64, 3), generator=g), torch.randint(0, 27, (64,), generator=g)
C = torch.randn((27, 10), generator=g)
W1 = torch.randn((30, 200), generator=g)
b1 = torch.randn(200, generator=g)
W2 = torch.randn((200, 27), generator=g) * 0.01
b2 = torch.randn(27, generator=g) * 0
parameters = [C, W1, b1, W2, b2]
for p in parameters:
    p.requires_grad = True
with trace() as t:
    for i in range(2):
        ix = torch.randint(0, X.shape[0], (32,), generator=g)
        emb = C[X[ix]]
        hpreact = emb.view(emb.shape[0], -1) @ W1 + b1
        h = torch.tanh(hpreact)  # <- saturated
        loss = F.cross_entropy(h @ W2 + b2, Y[ix])
        for p in parameters:
            p.grad = None
        loss.backward()
        for p in parameters:
            p.data += -0.1 * p.grad
