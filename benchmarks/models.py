"""The models the benchmarks run: one forward pass each, returning a classification loss.

``transformer`` is written out op by op, the way a course writes a GPT (one module per attention
head, layer norm and GELU spelled out), so that one forward pass is more than 3,000 recorded
ops; ``encoder`` is the same size built from ``torch.nn.TransformerEncoderLayer``, whose fused
kernels make few ops.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

MODELS = ("mlp", "cnn", "cell", "transformer", "encoder")


class LayerNorm(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.gain, self.bias = nn.Parameter(torch.ones(width)), nn.Parameter(torch.zeros(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(-1, keepdim=True)
        centred = x - mean
        variance = (centred * centred).mean(-1, keepdim=True)
        return centred / torch.sqrt(variance + 1e-5) * self.gain + self.bias


class Head(nn.Module):
    """One head of causal self-attention."""

    def __init__(self, width: int, size: int, sequence: int) -> None:
        super().__init__()
        self.key = nn.Linear(width, size, bias=False)
        self.query = nn.Linear(width, size, bias=False)
        self.value = nn.Linear(width, size, bias=False)
        self.register_buffer("tril", torch.tril(torch.ones(sequence, sequence)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = x.shape[1]
        k, q, v = self.key(x), self.query(x), self.value(x)
        scores = q @ k.transpose(-2, -1) / math.sqrt(k.shape[-1])
        scores = scores.masked_fill(self.tril[:t, :t] == 0, float("-inf"))
        return F.softmax(scores, dim=-1) @ v


class Block(nn.Module):
    def __init__(self, width: int, heads: int, sequence: int) -> None:
        super().__init__()
        self.heads = nn.ModuleList(Head(width, width // heads, sequence) for _ in range(heads))
        self.proj = nn.Linear(width, width)
        self.ln1, self.ln2 = LayerNorm(width), LayerNorm(width)
        self.up, self.down = nn.Linear(width, 4 * width), nn.Linear(4 * width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x)
        x = x + self.proj(torch.cat([head(h) for head in self.heads], dim=-1))
        u = self.up(self.ln2(x))
        gelu = 0.5 * u * (1 + torch.tanh(0.7978845608 * (u + 0.044715 * u * u * u)))
        return x + self.down(gelu)


class Transformer(nn.Module):
    def __init__(self, blocks: int = 6, width: int = 256, heads: int = 32,
                 sequence: int = 128, classes: int = 10) -> None:
        super().__init__()
        self.position = nn.Parameter(torch.randn(sequence, width) * 0.02)
        self.blocks = nn.Sequential(*(Block(width, heads, sequence) for _ in range(blocks)))
        self.ln = LayerNorm(width)
        self.head = nn.Linear(width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.ln(self.blocks(x + self.position))
        return self.head(h.mean(1))


class ManualMLP(nn.Module):
    """The backprop exercise's MLP written op by op on small tensors: embedding, a linear layer,
    batch norm by hand, tanh, a linear layer (37 recorded ops, about 0.5 ms plain)."""

    def __init__(self, vocab: int = 27, block: int = 3, embed: int = 10, hidden: int = 64) -> None:
        super().__init__()
        self.C = nn.Parameter(torch.randn(vocab, embed))
        self.W1 = nn.Parameter(torch.randn(block * embed, hidden) * 0.2)
        self.b1 = nn.Parameter(torch.randn(hidden) * 0.1)
        self.W2 = nn.Parameter(torch.randn(hidden, vocab) * 0.1)
        self.b2 = nn.Parameter(torch.randn(vocab) * 0.1)
        self.bngain = nn.Parameter(torch.ones(1, hidden))
        self.bnbias = nn.Parameter(torch.zeros(1, hidden))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        emb = self.C[x]
        embcat = emb.view(emb.shape[0], -1)
        hprebn = embcat @ self.W1 + self.b1
        bnmeani = hprebn.sum(0, keepdim=True) / hprebn.shape[0]
        bndiff = hprebn - bnmeani
        bndiff2 = bndiff ** 2
        bnvar = bndiff2.sum(0, keepdim=True) / (hprebn.shape[0] - 1)
        bnvar_inv = (bnvar + 1e-5) ** -0.5
        bnraw = bndiff * bnvar_inv
        hpreact = self.bngain * bnraw + self.bnbias
        h = torch.tanh(hpreact)
        logits = h @ self.W2 + self.b2
        logit_maxes = logits.max(1, keepdim=True).values
        norm_logits = logits - logit_maxes
        counts = norm_logits.exp()
        counts_sum = counts.sum(1, keepdim=True)
        probs = counts * counts_sum ** -1
        return probs.log()


def build(name: str) -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """The model called ``name``, an input batch and its labels (seeded)."""
    torch.manual_seed(0)
    if name == "mlp":  # 20 layers, width 256, batch 64
        layers: list[nn.Module] = []
        for _ in range(20):
            layers += [nn.Linear(256, 256), nn.ReLU()]
        model: nn.Module = nn.Sequential(*layers, nn.Linear(256, 10))
        x = torch.randn(64, 256)
    elif name == "cnn":  # 3 conv + linear, batch 32, 32x32
        model = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 4 * 4, 10))
        x = torch.randn(32, 3, 32, 32)
    elif name == "cell":  # the backprop exercise on small tensors, batch 32
        model = ManualMLP()
        x = torch.randint(0, 27, (32, 3))
        return model, x, torch.randint(0, 27, (32,))
    elif name == "transformer":  # 6 blocks of 32 heads, width 256, sequence 128, batch 2
        model = Transformer()
        x = torch.randn(2, 128, 256)
    elif name == "encoder":  # 6 nn.TransformerEncoderLayer, width 256, sequence 128, batch 2
        layer = nn.TransformerEncoderLayer(256, 4, 512, dropout=0.0, batch_first=True)
        encoder = nn.TransformerEncoder(layer, 6, enable_nested_tensor=False)
        model = nn.Sequential(encoder, nn.Flatten(), nn.Linear(128 * 256, 10))
        x = torch.randn(2, 128, 256)
    else:
        raise SystemExit(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    return model, x, torch.randint(0, 10, (x.shape[0],))
