"""One rank of the distributed tests: ``torchrun --nproc_per_node 2 distributed_worker.py OUT``.

Each scenario trains a small DDP MLP on this rank's own data under ``gradtrace.trace()`` and
saves the Trace to ``OUT/<scenario>/rank{r}.gtrace``, with the oracle: the same step in plain
PyTorch, untraced (``oracle{r}.pt``: the local gradients of a copy without DDP, the ``.grad``
of an untraced DDP copy after its all-reduce).
"""

from __future__ import annotations

import copy
import os
import sys

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from gradtrace import trace


class Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = torch.nn.Linear(4, 8)
        self.fc2 = torch.nn.Linear(8, 2)
        self.extra = torch.nn.Linear(2, 2)

    def forward(self, x: torch.Tensor, use_extra: bool = True) -> torch.Tensor:
        h = self.fc2(torch.tanh(self.fc1(x)))
        return self.extra(h) if use_extra else h


def batches(rank: int, n: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(100 + rank)
    return [(torch.randn(6, 4, generator=g), torch.randn(6, 2, generator=g)) for _ in range(n)]


def step(ddp: torch.nn.Module, opt: torch.optim.Optimizer, data: list, scenario: str,
         rank: int) -> None:
    """The code under test: one optimizer step over the batches, as the scenario writes it."""
    opt.zero_grad()
    for i, (x, y) in enumerate(data):
        use_extra = not (scenario == "unused" and rank == 1)
        if scenario == "no_sync" and i == 0:
            with ddp.no_sync():  # type: ignore[operator]
                torch.nn.functional.mse_loss(ddp(x, use_extra), y).backward()
        else:
            torch.nn.functional.mse_loss(ddp(x, use_extra), y).backward()
    if scenario == "scaled" and rank == 1:
        with torch.no_grad():
            for p in ddp.parameters():
                p.grad *= 2  # the bug: only this rank changes its gradient after backward
    opt.step()


def local_oracle(model: torch.nn.Module, data: list, scenario: str, rank: int) -> dict:
    plain = copy.deepcopy(model)
    for x, y in data:
        use_extra = not (scenario == "unused" and rank == 1)
        torch.nn.functional.mse_loss(plain(x, use_extra), y).backward()
    return {n: (None if p.grad is None else p.grad.clone()) for n, p in plain.named_parameters()}


def run(scenario: str, out: str) -> None:
    rank = dist.get_rank()
    torch.manual_seed(0)
    model = Net()
    data = batches(rank, 2 if scenario == "no_sync" else 1)
    unused = scenario == "unused"
    oracle = {"local": local_oracle(model, data, scenario, rank)}
    untraced = DDP(copy.deepcopy(model), find_unused_parameters=unused)
    step(untraced, torch.optim.SGD(untraced.parameters(), lr=0.1), data, scenario, rank)
    oracle["synced"] = {n: p.grad.clone() for n, p in untraced.module.named_parameters()
                        if p.grad is not None}
    oracle["value"] = {n: p.detach().clone() for n, p in untraced.module.named_parameters()}
    ddp = DDP(model, find_unused_parameters=unused)
    if scenario == "own_hook":  # the user's own hook: gradtrace cannot wrap it
        from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

        ddp.register_comm_hook(None, default_hooks.allreduce_hook)
    opt = torch.optim.SGD(ddp.parameters(), lr=0.1)
    with trace(show=False) as t:
        step(ddp, opt, data, scenario, rank)
    folder = os.path.join(out, scenario)
    os.makedirs(folder, exist_ok=True)
    torch.save(oracle, os.path.join(folder, f"oracle{rank}.pt"))
    t.save(os.path.join(folder, f"rank{rank}.gtrace"))


def main() -> None:
    dist.init_process_group("gloo")
    try:
        for scenario in sys.argv[2:] or ["plain", "scaled", "unused", "no_sync", "own_hook"]:
            run(scenario, sys.argv[1])
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
