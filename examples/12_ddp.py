"""Distributed data parallel under gradtrace: each rank's gradients, the all-reduce, the ranks compared."""

# Two ranks on this machine (gloo, CPU), each rank's Trace and reports saved to runs/ddp:
#   torchrun --standalone --nproc_per_node 2 -m gradtrace --save runs/ddp examples/12_ddp.py
#   python -m gradtrace.ranks runs/ddp          (the ranks side by side, again)
# Add --bug after the script to make rank 1 double its gradients after backward (rank_desync).
# With plain `python examples/12_ddp.py` it runs as one rank.

import os
import sys
import tempfile

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

if "RANK" in os.environ:  # started by torchrun
    dist.init_process_group("gloo")
else:
    dist.init_process_group("gloo", init_method=f"file://{tempfile.mktemp()}", rank=0,
                            world_size=1)
rank = dist.get_rank()

torch.manual_seed(0)  # the same initial weights on every rank
model = DDP(nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1)))
opt = torch.optim.SGD(model.parameters(), lr=0.1)
data = torch.Generator().manual_seed(rank)  # but each rank its own data
(x1, y1), (x2, y2) = [(torch.randn(8, 4, generator=data), torch.randn(8, 1, generator=data))
                      for _ in range(2)]

opt.zero_grad()
with model.no_sync():  # micro-batch 1: gradients stay local
    F.mse_loss(model(x1), y1).backward()
F.mse_loss(model(x2), y2).backward()  # micro-batch 2: DDP all-reduces the sum
if "--bug" in sys.argv and rank == 1:
    with torch.no_grad():
        for p in model.parameters():
            p.grad *= 2  # changed on one rank only: the replicas drift apart
opt.step()

if rank == 0:
    print("model.module.2.bias.grad", model.module[2].bias.grad)
dist.destroy_process_group()
