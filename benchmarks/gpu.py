"""gradtrace on a CUDA device: the 20-layer MLP at batch 512, plain, record only, and record +
read, interleaved; and whether recording makes the host wait for the device during a traced
training step (``torch.cuda.set_sync_debug_mode("error")`` raises on any synchronisation).

Usage::

    python benchmarks/gpu.py             # needs a CUDA device
    python benchmarks/gpu.py --profile   # also: recording and building timed apart, with and
                                         # without values, and where the host's time goes
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gradtrace import trace


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args(argv)
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
    if args.profile:
        profile(step)


def profile(step: Callable[[], None]) -> None:
    """Recording (the ``with`` block) and building (``t.records``) timed apart, then a profile
    of the host's time over ten traced steps."""
    for values in ("summary", "none"):
        recording, building = [], []
        for _ in range(20):
            t0 = time.perf_counter()
            with trace(values=values) as t:
                step()
            torch.cuda.synchronize()
            t1 = time.perf_counter()
            t.records  # noqa: B018
            torch.cuda.synchronize()
            recording.append(t1 - t0)
            building.append(time.perf_counter() - t1)
        print(f"values={values}: recording {statistics.median(recording) * 1e3:.2f} ms, "
              f"building {statistics.median(building) * 1e3:.2f} ms (median of 20)")
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(10):
        with trace() as t:
            step()
        t.records  # noqa: B018
    torch.cuda.synchronize()
    profiler.disable()
    pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
