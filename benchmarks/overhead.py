"""How much slower PyTorch code runs under gradtrace, and how much a kept Trace holds.

Usage::

    python benchmarks/overhead.py                 # all models, gradtrace only
    python benchmarks/overhead.py --peers         # also torchviz / torchlens where installed
    python benchmarks/overhead.py --models mlp --repeat 50

For each model it runs forward + backward plainly and under ``trace()`` (interleaved, one thread,
median of ``--repeat`` runs, in the same process) and prints plain ms, traced ms, their ratio,
the ops recorded and the pickled size of one kept Trace. Peers run in a process of their own,
because torchlens patches torch globally.
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

MODELS = ("mlp", "cnn", "transformer")


def build(name: str) -> tuple[torch.nn.Module, Callable[[], torch.Tensor]]:
    """A model and a function that runs one forward pass and returns the loss."""
    torch.manual_seed(0)
    if name == "mlp":  # 20 layers, width 256, batch 64
        layers: list[torch.nn.Module] = []
        for _ in range(20):
            layers += [torch.nn.Linear(256, 256), torch.nn.ReLU()]
        model = torch.nn.Sequential(*layers, torch.nn.Linear(256, 10))
        x, y = torch.randn(64, 256), torch.randint(0, 10, (64,))
    elif name == "cnn":  # 3 conv + linear, batch 32, 32x32
        model = torch.nn.Sequential(
            torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(32, 64, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Flatten(), torch.nn.Linear(64 * 4 * 4, 10))
        x, y = torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,))
    elif name == "transformer":  # 6 blocks, width 256, sequence 128
        layer = torch.nn.TransformerEncoderLayer(256, 4, 512, dropout=0.0, batch_first=True)
        encoder = torch.nn.TransformerEncoder(layer, 6, enable_nested_tensor=False)
        model = torch.nn.Sequential(encoder, torch.nn.Flatten(), torch.nn.Linear(128 * 256, 10))
        x, y = torch.randn(2, 128, 256), torch.randint(0, 10, (2,))
    else:
        raise SystemExit(f"unknown model {name!r}; choose from {', '.join(MODELS)}")
    return model, lambda: F.cross_entropy(model(x), y)


def step(model: torch.nn.Module, loss_fn: Callable[[], torch.Tensor]) -> None:
    model.zero_grad(set_to_none=True)
    loss_fn().backward()


def measure_gradtrace(name: str, repeat: int) -> dict[str, float]:
    from gradtrace import Trace, trace

    model, loss_fn = build(name)
    for _ in range(3):
        step(model, loss_fn)
    plain, traced = [], []
    kept: Trace | None = None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        step(model, loss_fn)
        plain.append(time.perf_counter() - t0)
        gc.collect()
        t0 = time.perf_counter()
        with trace() as last:
            step(model, loss_fn)
        kept = last
        traced.append(time.perf_counter() - t0)
    p, t = statistics.median(plain), statistics.median(traced)
    assert kept is not None
    return {"plain_ms": p * 1e3, "tool_ms": t * 1e3, "ratio": t / p,
            "ops": len(kept.steps), "backward_steps": len(kept.backward_steps),
            "trace_mib": len(pickle.dumps(kept)) / 2**20}


def measure_peer(tool: str, name: str, repeat: int) -> dict[str, float] | None:
    """torchviz or torchlens, timed the same way, or None when not installed."""
    model, loss_fn = build(name)
    if tool == "torchviz":
        try:
            from torchviz import make_dot
        except ImportError:
            return None

        def run() -> None:
            model.zero_grad(set_to_none=True)
            loss = loss_fn()
            make_dot(loss, params=dict(model.named_parameters()))
            loss.backward()
    else:
        try:
            import torchlens
        except ImportError:
            return None

        def run() -> None:
            model.zero_grad(set_to_none=True)
            log = torchlens.log_forward_pass(model, _input(name), save_grads=True)
            log[log.layer_labels[-1]].tensor_contents.sum().backward()

    plain, timed = [], []
    for _ in range(2):
        step(model, loss_fn), run()
    for _ in range(repeat):
        t0 = time.perf_counter()
        step(model, loss_fn)
        plain.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        run()
        timed.append(time.perf_counter() - t0)
    p, t = statistics.median(plain), statistics.median(timed)
    return {"plain_ms": p * 1e3, "tool_ms": t * 1e3, "ratio": t / p}


def _input(name: str) -> torch.Tensor:
    torch.manual_seed(0)
    return {"mlp": lambda: torch.randn(64, 256), "cnn": lambda: torch.randn(32, 3, 32, 32),
            "transformer": lambda: torch.randn(2, 128, 256)}[name]()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--repeat", type=int, default=25)
    parser.add_argument("--peers", action="store_true", help="also time torchviz and torchlens")
    parser.add_argument("--worker", nargs=2, metavar=("TOOL", "MODEL"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    if args.worker:
        tool, name = args.worker
        result = (measure_gradtrace(name, args.repeat) if tool == "gradtrace"
                  else measure_peer(tool, name, args.repeat))
        print(json.dumps(result))
        return
    tools = ["gradtrace"] + (["torchviz", "torchlens"] if args.peers else [])
    print(f"torch {torch.__version__}, 1 thread, median of {args.repeat}; "
          "ratio = traced / plain forward+backward in the same process")
    print(f"{'model':<12} {'tool':<10} {'plain ms':>9} {'tool ms':>9} {'ratio':>6} "
          f"{'ops':>6} {'bwd steps':>9} {'trace MiB':>9}")
    for name in args.models.split(","):
        for tool in tools:
            out = subprocess.run([sys.executable, __file__, "--repeat", str(args.repeat),
                                  "--worker", tool, name], capture_output=True, text=True)
            if out.returncode != 0:
                print(f"{name:<12} {tool:<10} failed: {out.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            if r is None:
                print(f"{name:<12} {tool:<10} not installed")
                continue
            extra = (f"{r['ops']:>6} {r['backward_steps']:>9} {r['trace_mib']:>9.2f}"
                     if "ops" in r else "")
            print(f"{name:<12} {tool:<10} {r['plain_ms']:>9.2f} {r['tool_ms']:>9.2f} "
                  f"{r['ratio']:>6.2f} {extra}")


if __name__ == "__main__":
    main()
