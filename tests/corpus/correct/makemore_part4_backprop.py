"""makemore part 4 ("backprop ninja"): the forward pass broken into small steps, each kept with
retain_grad(), the gradients derived by hand compared with autograd, then the update."""
import torch
import torch.nn.functional as F

from gradtrace import trace

g = torch.Generator().manual_seed(2147483647)
n = 16
Xb, Yb = torch.randint(0, 27, (n, 3), generator=g), torch.randint(0, 27, (n,), generator=g)
C = torch.randn((27, 5), generator=g)
W1 = torch.randn((15, 32), generator=g) * (5 / 3) / 15 ** 0.5
b1 = torch.randn(32, generator=g) * 0.1
W2 = torch.randn((32, 27), generator=g) * 0.1
b2 = torch.randn(27, generator=g) * 0.1
parameters = [C, W1, b1, W2, b2]
for p in parameters:
    p.requires_grad = True
with trace() as t:
    for _ in range(2):
        emb = C[Xb]
        embcat = emb.view(emb.shape[0], -1)
        hpreact = embcat @ W1 + b1
        h = torch.tanh(hpreact)
        logits = h @ W2 + b2
        logit_maxes = logits.max(1, keepdim=True).values
        norm_logits = logits - logit_maxes
        counts = norm_logits.exp()
        counts_sum_inv = counts.sum(1, keepdims=True) ** -1
        probs = counts * counts_sum_inv
        logprobs = probs.log()
        loss = -logprobs[range(n), Yb].mean()
        for p in parameters:
            p.grad = None
        for tensor in [logprobs, probs, counts, counts_sum_inv, norm_logits, logits, h, hpreact]:
            tensor.retain_grad()
        loss.backward()
        dlogits = F.softmax(logits, 1)
        dlogits[range(n), Yb] -= 1
        dlogits /= n
        assert torch.allclose(dlogits, logits.grad, atol=1e-6)
        dh = dlogits @ W2.T
        assert torch.allclose(dh, h.grad, atol=1e-6)
        for p in parameters:
            p.data += -0.1 * p.grad
