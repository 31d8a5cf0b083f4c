"""A Hugging Face causal LM from a small random-weight config (no download): AdamW, a linear
schedule with warmup, clipping, model.zero_grad() after each step, as the Trainer does."""
import torch
import transformers

from gradtrace import trace

torch.manual_seed(0)
config = transformers.GPT2Config(vocab_size=50, n_positions=16, n_embd=16, n_layer=1, n_head=2,
                                  bos_token_id=0, eos_token_id=0)
model = transformers.GPT2LMHeadModel(config)
optimizer = torch.optim.AdamW(model.parameters(), lr=5e-4, weight_decay=0.01)
scheduler = transformers.get_linear_schedule_with_warmup(optimizer, num_warmup_steps=1,
                                                         num_training_steps=3)
batch = torch.randint(0, 50, (2, 8))
with trace() as t:
    model.train()
    for _ in range(2):
        outputs = model(input_ids=batch, labels=batch)
        loss = outputs.loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        model.zero_grad()
