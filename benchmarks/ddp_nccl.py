"""DDP over NCCL under gradtrace: the traced all-reduce must equal untraced DDP, on every GPU.

Usage (one rank per GPU; one GPU gives a world of 1):
    torchrun --standalone --nproc_per_node $(nvidia-smi -L | wc -l) benchmarks/ddp_nccl.py OUT
Each rank checks its traced .grad and local gradient against an untraced DDP copy and plain
PyTorch, saves OUT/rank{r}.gtrace, and rank 0 prints gradtrace.compare_ranks(OUT). Exits 1 on a
mismatch; skips (exit 0) without CUDA or NCCL.
"""

from __future__ import annotations

import copy
import os
import sys
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

import gradtrace


def main() -> int:
    if not (torch.cuda.is_available() and dist.is_nccl_available()):
        print("skipped: needs CUDA and NCCL")
        return 0
    out = sys.argv[1] if len(sys.argv) > 1 else "runs/nccl"
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    torch.cuda.set_device(local_rank)
    dist.init_process_group("nccl")
    rank, device = dist.get_rank(), torch.device("cuda", local_rank)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 256), torch.nn.GELU(),
                              torch.nn.Linear(256, 10)).to(device)
    g = torch.Generator(device=device).manual_seed(rank)
    x = torch.randn(32, 64, device=device, generator=g)
    y = torch.randint(0, 10, (32,), device=device, generator=g)
    plain, untraced = copy.deepcopy(net), DDP(copy.deepcopy(net), device_ids=[local_rank])
    F.cross_entropy(plain(x), y).backward()
    F.cross_entropy(untraced(x), y).backward()
    ddp = DDP(net, device_ids=[local_rank])
    start = time.perf_counter()
    with gradtrace.trace(values="full", show=False) as t:
        F.cross_entropy(ddp(x), y).backward()
    torch.cuda.synchronize()
    took = time.perf_counter() - start
    ok = True
    for (name, p), q, r in zip(net.named_parameters(), untraced.module.parameters(),
                               plain.parameters()):
        full = f"ddp.module.{name}"
        ok &= torch.equal(t.grad(full).to(device), q.grad) and torch.equal(p.grad, q.grad)
        ok &= torch.allclose(t.grad(full, local=True).to(device), r.grad, rtol=1e-5, atol=1e-6)
    rows = [b.node for b in t.backward_steps if b.kind == "all_reduce"]
    print(f"rank {rank}: world {t.world_size}, all-reduce rows {rows}, traced in {took:.3f} s, "
          f"{'OK' if ok else 'MISMATCH'}", flush=True)
    os.makedirs(out, exist_ok=True)
    t.save(os.path.join(out, f"rank{rank}.gtrace"))
    dist.barrier()
    if rank == 0:
        print(gradtrace.compare_ranks(out))
    dist.destroy_process_group()
    return 0 if ok and rows else 1


if __name__ == "__main__":
    sys.exit(main())
