"""gradtrace on a CUDA device: the 20-layer MLP at batch 512, plain, record only, and record +
read, interleaved; and whether recording makes the host wait for the device during a traced
training step (``torch.cuda.set_sync_debug_mode("error")`` raises on any synchronisation).

Usage::

    python benchmarks/gpu.py             # needs a CUDA device
"""

from __future__ import annotations

import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace


def main() -> None:
    if not torch.cuda.is_available():
        raise SystemExit("needs a CUDA device")
    torch.manual_seed(0)
    layers: list[nn.Module] = []
    for _ in range(20):
        layers += [nn.Linear(256, 256), nn.ReLU()]
    model = nn.Sequential(*layers, nn.Linear(256, 10)).cuda()
    x, y = torch.randn(512, 256, device="cuda"), torch.randint(0, 10, (512,), device="cuda")

    def step() -> None:
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()

    def timed(run: object) -> float:
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        run()  # type: ignore[operator]
        torch.cuda.synchronize()
        return time.perf_counter() - t0

    def record() -> None:
        with trace() as t:
            step()
        t.records  # noqa: B018

    def record_read() -> None:
        with trace() as t:
            step()
        t.forward, t.backward, t.tensors, t.warnings  # noqa: B018

    for _ in range(5):
        step(), record_read()
    plain, rec, read = [], [], []
    for _ in range(25):
        plain.append(timed(step))
        rec.append(timed(record))
        read.append(timed(record_read))
    p, r, rr = (statistics.median(v) for v in (plain, rec, read))
    print(f"{torch.cuda.get_device_name()}: mlp batch 512, median of 25: plain {p * 1e3:.2f} ms, "
          f"record {r * 1e3:.2f} ms ({r / p:.2f}x), record + read {rr * 1e3:.2f} ms "
          f"({rr / p:.2f}x)")
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    opt.zero_grad()
    step()
    opt.step()  # the optimizer's own first-step set-up, outside the check
    torch.cuda.synchronize()
    with trace() as t:
        torch.cuda.set_sync_debug_mode("error")
        try:
            opt.zero_grad()
            step()
            opt.step()
            synced = "no host synchronisation inside the traced step (with an SGD step)"
        except RuntimeError as exc:
            synced = f"a host synchronisation inside the traced step: {exc}"
        finally:
            torch.cuda.set_sync_debug_mode("default")
    print(synced + f" ({len(t.steps)} ops, {len(t.backward_steps)} backward steps, "
          f"{len(t.updates)} parameter updates)")


if __name__ == "__main__":
    main()
