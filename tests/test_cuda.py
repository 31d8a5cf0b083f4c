"""On a CUDA device: traced equals untraced, and tracing adds no host synchronisation per op
(summaries are worked out on the device and fetched once, when the trace ends). Skipped where
no CUDA device is present."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from gradtrace import trace

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def make() -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor]:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(),
                                torch.nn.Linear(128, 128), torch.nn.Tanh(),
                                torch.nn.Linear(128, 128)).cuda()
    # (64, 128) outputs: 8,192 elements, more than are kept whole, so statistics are used
    return model, torch.randn(64, 64, device="cuda"), torch.randn(64, 128, device="cuda")


def step(model: torch.nn.Module, x: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    model.zero_grad(set_to_none=True)
    h = model(x)
    h = h * 2
    h.add_(1)  # an in-place op on a big tensor: its old value is summarised on the device
    loss = F.mse_loss(h, target)
    loss.backward()
    return loss


def test_traced_equals_untraced_on_cuda() -> None:
    model, x, target = make()
    loss = step(model, x, target)
    expected = {n: p.grad.clone() for n, p in model.named_parameters()}
    with trace(values="full") as t:
        traced_loss = step(model, x, target)
    assert torch.equal(loss, traced_loss)
    for n, g in expected.items():
        assert torch.equal(model.get_parameter(n).grad, g)
        assert torch.equal(t.grad(f"model.{n}"), g.cpu())
    s = t.step("loss")
    assert s.value.device.startswith("cuda") and s.value.values.device.type == "cpu"


def test_no_host_sync_per_op() -> None:
    model, x, target = make()
    step(model, x, target)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        step(model, x, target)  # the plain step itself must not sync, or this check means nothing
    finally:
        torch.cuda.set_sync_debug_mode("default")
    with trace() as t:
        torch.cuda.set_sync_debug_mode("error")
        try:
            step(model, x, target)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    # everything was summarised after the block, in a handful of transfers
    big = t.step("model.2.weight").value
    w = model[2].weight.detach()
    assert big.values is None and big.max == pytest.approx(w.max().item())
    doubled, added = [s.value for s in t.steps if s.name == "h"][-2:]
    assert doubled.values is None and added.values is None
    assert added.mean == pytest.approx(doubled.mean + 1, rel=1e-5)


def test_big_gradients_summarised_on_the_device_without_sync() -> None:
    w = torch.randn(1024, 512, device="cuda", requires_grad=True)  # 524,288 elements
    torch.cuda.synchronize()
    with trace() as t:
        torch.cuda.set_sync_debug_mode("error")
        try:
            h = (w * 2).tanh()
            loss = (h * h).mean()
            loss.backward()
        finally:
            torch.cuda.set_sync_debug_mode("default")
    received = next(b for b in t.backward_steps if b.tensor == "h").grad_in
    expected = 2 * h.detach() / h.numel()
    assert received is not None and received.values is None
    assert received.max == pytest.approx(expected.max().item(), rel=1e-5)
    assert received.norm == pytest.approx(expected.norm().item(), rel=1e-4)
