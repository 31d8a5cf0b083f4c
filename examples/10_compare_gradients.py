"""A backprop ninja in miniature: an MLP with batch norm, backpropagated by hand, checked."""

import torch
import torch.nn.functional as F

from gradtrace import trace

torch.manual_seed(0)
vocab, block, n_embd, n_hidden, n = 27, 3, 10, 64, 32  # characters, context, sizes, batch
Xb = torch.randint(0, vocab, (n, block))  # a batch of 3-character contexts
Yb = torch.randint(0, vocab, (n,))  # and the character that follows each

with trace(values="full") as t:
    C = torch.randn(vocab, n_embd, requires_grad=True)
    W1 = (torch.randn(block * n_embd, n_hidden) * 0.2).requires_grad_()
    b1 = (torch.randn(n_hidden) * 0.1).requires_grad_()
    bngain = (1.0 + torch.randn(1, n_hidden) * 0.1).requires_grad_()
    bnbias = (torch.randn(1, n_hidden) * 0.1).requires_grad_()
    W2 = (torch.randn(n_hidden, vocab) * 0.1).requires_grad_()
    b2 = (torch.randn(vocab) * 0.1).requires_grad_()

    emb = C[Xb]  # (n, block, n_embd): look the characters up
    embcat = emb.view(n, -1)
    hprebn = embcat @ W1 + b1
    bnmean = hprebn.mean(0, keepdim=True)  # batch norm, one op at a time
    bndiff = hprebn - bnmean
    bnvar = (bndiff**2).sum(0, keepdim=True) / (n - 1)
    bnvar_inv = (bnvar + 1e-5) ** -0.5
    bnraw = bndiff * bnvar_inv
    hpreact = bngain * bnraw + bnbias
    h = torch.tanh(hpreact)
    logits = h @ W2 + b2
    loss = F.cross_entropy(logits, Yb)
    loss.backward()
print("loss:", loss)

with torch.no_grad():  # now backward by hand, from the loss back to the embeddings
    dlogits = F.softmax(logits, 1)
    dlogits[range(n), Yb] -= 1  # softmax - onehot ...
    dlogits /= n  # ... over the batch size
    dh = dlogits @ W2.T
    dW2 = h.T @ dlogits
    db2 = dlogits.sum(0)
    dhpreact = (1.0 - h**2) * dh
    dbngain = (bnraw * dhpreact).sum(0, keepdim=True)
    dbnbias = dhpreact.sum(0, keepdim=True)
    dbnraw = bngain * dhpreact
    dbnvar_inv = (bndiff * dbnraw).sum(0, keepdim=True)
    dbnvar = -0.5 * (bnvar + 1e-5) ** -1.5 * dbnvar_inv
    dbndiff = bnvar_inv * dbnraw + 2 * bndiff / (n - 1) * dbnvar
    dbnmean = -dbndiff.sum(0, keepdim=True)
    dhprebn = dbndiff + dbnmean / n  # the direct path and the path through the mean
    dembcat = dhprebn @ W1.T
    dW1 = embcat.T @ dhprebn
    db1 = dhprebn.sum(0)
    demb = dembcat.view(emb.shape)
    dC = torch.zeros_like(C).index_add_(0, Xb.flatten(), demb.view(-1, n_embd))  # C[Xb]

table = t.compare(logits=dlogits, h=dh, W2=dW2, b2=db2, hpreact=dhpreact, bngain=dbngain,
                  bnbias=dbnbias, bnraw=dbnraw, bnvar_inv=dbnvar_inv, bnvar=dbnvar,
                  bndiff=dbndiff, bnmean=dbnmean, hprebn=dhprebn, embcat=dembcat, W1=dW1,
                  b1=db1, emb=demb, C=dC)
print(table.to_string(index=False))
print("all close:", bool(table["close"].all()))
