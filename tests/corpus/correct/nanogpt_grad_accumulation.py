"""nanoGPT's training loop: four micro-batches of loss / 4 backpropagated before one step, a
GradScaler (enabled only for float16, so a no-op here, as nanoGPT runs it in bfloat16), gradient
clipping after unscaling, AdamW with a learning rate set per step, zero_grad(set_to_none=True)."""
import math

import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace

torch.manual_seed(1337)


class Block(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = nn.MultiheadAttention(n_embd, n_head, batch_first=True)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = nn.Sequential(nn.Linear(n_embd, 4 * n_embd), nn.GELU(),
                                 nn.Linear(4 * n_embd, n_embd), nn.Dropout(0.0))

    def forward(self, x):
        T = x.shape[1]
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool), diagonal=1)
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab=32, block=8, n_embd=16):
        super().__init__()
        self.wte = nn.Embedding(vocab, n_embd)
        self.wpe = nn.Embedding(block, n_embd)
        self.h = nn.ModuleList([Block(n_embd, 2) for _ in range(2)])
        self.ln_f = nn.LayerNorm(n_embd)
        self.lm_head = nn.Linear(n_embd, vocab, bias=False)
        self.wte.weight = self.lm_head.weight

    def forward(self, idx, targets):
        x = self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))
        for block in self.h:
            x = block(x)
        logits = self.lm_head(self.ln_f(x))
        return logits, F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1))


model = GPT()
optimizer = torch.optim.AdamW(model.parameters(), lr=6e-4, betas=(0.9, 0.95), weight_decay=0.1)
scaler = torch.amp.GradScaler("cpu")
gradient_accumulation_steps, max_iters, warmup = 4, 2, 1
data = torch.randint(0, 32, (64, 9))


def get_lr(it):
    if it < warmup:
        return 6e-4 * (it + 1) / (warmup + 1)
    return 6e-5 + 0.5 * (1.0 + math.cos(math.pi * it / max_iters)) * (6e-4 - 6e-5)


def get_batch(step):
    rows = data[step * 4:(step + 1) * 4]
    return rows[:, :-1], rows[:, 1:]


with trace() as t:
    for iter_num in range(max_iters):
        for param_group in optimizer.param_groups:
            param_group["lr"] = get_lr(iter_num)
        for micro_step in range(gradient_accumulation_steps):
            X, Y = get_batch(iter_num * gradient_accumulation_steps + micro_step)
            logits, loss = model(X, Y)
            loss = loss / gradient_accumulation_steps
            scaler.scale(loss).backward()
        scaler.unscale_(optimizer)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
