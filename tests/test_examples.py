"""Each script in examples/ runs with plain ``python`` and prints what plain PyTorch computes.

The expected numbers are computed here with torch (the oracle), never copied from a script's output.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TOL = 1e-4  # torch prints 4 decimals (or 4 significant digits in e-notation)


def run(name: str) -> str:
    """Run ``examples/name`` as ``python examples/name`` would, importing this checkout's
    gradtrace; return its stdout."""
    path = os.pathsep.join(filter(None, [str(EXAMPLES.parent), os.environ.get("PYTHONPATH")]))
    proc = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": path})
    assert proc.returncode == 0, f"{name} exited {proc.returncode}:\n{proc.stderr}"
    assert "Warning" not in proc.stderr, proc.stderr
    return proc.stdout


def printed(out: str, label: str) -> list[list[float]]:
    """The numbers of each ``label tensor(...)`` line printed, flattened, in order of appearance."""
    found = re.findall(r"(?m)^" + re.escape(label) + r"\s*tensor\(([^)]*)\)", out)
    assert found, f"no {label!r} in output:\n{out}"
    return [_numbers(body) for body in found]


def _numbers(body: str) -> list[float]:
    body = re.sub(r"(requires_grad|grad_fn|dtype)=\S*", "", body)
    if "True" in body or "False" in body:
        return [float(b == "True") for b in re.findall(r"True|False", body)]
    return [float(n) for n in re.findall(r"-?\d+(?:\.\d*)?(?:e[-+]?\d+)?", body)]


def close(got: list[float], expected: torch.Tensor) -> bool:
    want = expected.detach().flatten().tolist()
    return len(got) == len(want) and all(math.isclose(g, w, abs_tol=TOL) for g, w in zip(got, want))


def test_every_example_has_a_test() -> None:
    tests = {n[5:7] for n in globals() if re.fullmatch(r"test_\d\d_\w+", n)}
    scripts = {p.name[:2] for p in EXAMPLES.glob("[0-9][0-9]_*.py")}
    assert scripts == tests


def test_every_example_starts_with_a_one_line_docstring() -> None:
    for path in sorted(EXAMPLES.glob("*.py")):
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith('"""') and first.endswith('"""') and len(first) > 6, path.name


def test_01_square() -> None:
    out = run("01_square.py")
    torch.manual_seed(0)
    x = torch.rand(1, requires_grad=True)
    (x**2).backward()
    assert close(printed(out, "x:")[0], x)
    assert close(printed(out, "y:")[0], x**2)
    assert close(printed(out, "x.grad:")[0], 2 * x)
    assert printed(out, "x.grad == 2*x:") == [[1.0]]


def test_02_sum() -> None:
    out = run("02_sum.py")
    torch.manual_seed(0)
    x = torch.rand([5])
    assert close(printed(out, "x:")[0], x)
    assert close(printed(out, "y:")[0], x.sum())
    assert close(printed(out, "x.grad:")[0], torch.ones(5))


def test_03_chain_rule() -> None:
    out = run("03_chain_rule.py")
    torch.manual_seed(0)
    x = torch.rand(1)
    assert close(printed(out, "x:")[0], x)
    assert close(printed(out, "y:")[0], x.log() ** 2)
    assert close(printed(out, "gradient of x:")[0], 2 * x.log() / x)


def test_04_accumulation() -> None:
    out = run("04_accumulation.py")
    x_1 = torch.tensor([3.0], requires_grad=True)
    x_2 = torch.tensor([2.0], requires_grad=True)
    (x_1.cos() * x_2.log()).backward()
    once_1, once_2 = x_1.grad.clone(), x_2.grad.clone()  # type: ignore[union-attr]
    assert close(once_1.tolist(), -torch.sin(torch.tensor([3.0])) * math.log(2.0))
    assert close(once_2.tolist(), torch.cos(torch.tensor([3.0])) / 2.0)
    g1, g2 = printed(out, "x_1.grad:"), printed(out, "x_2.grad:")
    assert len(g1) == len(g2) == 2
    assert close(g1[0], once_1) and close(g2[0], once_2)
    assert close(g1[1], 2 * once_1) and close(g2[1], 2 * once_2)  # accumulated, not replaced


def _leaky(t: torch.Tensor, slope: float) -> torch.Tensor:
    return torch.where(t >= 0, t, slope * t)


def test_05_leaky_relu() -> None:
    out = run("05_leaky_relu.py")
    a = torch.arange(-10, 10).float()
    assert close(printed(out, "leaky_relu(arange):")[0], _leaky(a, 0.01))
    x = torch.tensor([1.0, -1.0], requires_grad=True)
    F.leaky_relu(x, 0.01).sum().backward()
    assert close(printed(out, "y:")[0], F.leaky_relu(x, 0.01).sum())
    assert close(printed(out, "dy/dx:")[0], x.grad)  # type: ignore[arg-type]
    x = torch.linspace(-5, 5, 11)
    assert close(printed(out, "x:")[0], x)
    # the lab's Function: slope 1 at 0 (only x < 0 gets 0.01)
    assert close(printed(out, "x.grad:")[0], torch.where(x < 0, 0.01, 1.0))
    assert close(printed(out, "LeakyReLU_Better()(x):")[0], _leaky(x, 0.01))


def test_06_param_relu() -> None:
    out = run("06_param_relu.py")
    x = torch.linspace(-5, 5, 11)
    assert close(printed(out, "y:")[0], _leaky(x, 0.25))
    assert close(printed(out, "x.grad:")[0], torch.where(x < 0, 0.25, 1.0))


def test_07_backprop_formula() -> None:
    out = run("07_backprop_formula.py")
    x = torch.tensor([1.0, 2.0, -1.0, 3.0, 5.0], requires_grad=True)
    y = torch.log(torch.exp(x[0] * x[1]) ** 2 + torch.sin(x[2] + x[3] + x[4]) * x[4])
    y.backward()
    assert close(printed(out, "y:")[0], y)
    got = [printed(out, f"dy/dx_{i}:")[0][0] for i in range(1, 6)]
    assert close(got, x.grad)  # type: ignore[arg-type]
    # and the values the lab's homework asks students to find by hand
    assert close(got, torch.tensor([3.7730, 1.8865, 0.0651, 0.0651, 0.0765]))


def test_08_sigmoid() -> None:
    out = run("08_sigmoid.py")
    w = torch.tensor([3.0, 0.0, 1.0, -3.0, 0.5])
    x = torch.tensor([1.0, 2.0, -1.0, 3.0, 5.0], requires_grad=True)
    y_hat = torch.sigmoid(w @ x)
    truth = torch.tensor([1.0])
    # the lab's bce_loss as written: log of the ground truth, not of y_hat
    loss = -(y_hat * truth.log() + (1 - y_hat) * (1 - truth.log())).sum()
    loss.backward()
    assert close(printed(out, "y_hat:")[0], y_hat)
    assert close(printed(out, "loss:")[0], loss)
    assert close(printed(out, "x.grad:")[0], x.grad)  # type: ignore[arg-type]
    assert close(printed(out, "x.grad:")[0], torch.tensor([0.0326, 0.0, 0.0109, -0.0326, 0.0054]))


def test_09_mlp_cross_entropy() -> None:
    out = run("09_mlp_cross_entropy.py")
    # Same seed and the same order of random draws as the script: three Linear layers, then x.
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(5, 6), torch.nn.ReLU(),
        torch.nn.Linear(6, 6), torch.nn.ReLU(),
        torch.nn.Linear(6, 4),
    )
    x = torch.rand(10, 5)
    targets = torch.tensor([0, 1, 2, 3, 0, 1, 2, 3, 0, 1])
    loss = F.cross_entropy(model(x), targets)  # the oracle: torch's own cross-entropy
    loss.backward()
    first = model[0]
    assert isinstance(first, torch.nn.Linear)
    assert close(printed(out, "loss:")[0], loss)
    assert close(printed(out, "fc1.weight.grad:")[0], first.weight.grad)  # type: ignore[arg-type]
    assert close(printed(out, "fc1.bias.grad:")[0], first.bias.grad)  # type: ignore[arg-type]


def test_10_compare_gradients() -> None:
    out = run("10_compare_gradients.py")
    # The script's random draws in the same order, and torch's own cross-entropy (the oracle).
    torch.manual_seed(0)
    xb, yb = torch.randint(0, 27, (32, 3)), torch.randint(0, 27, (32,))
    c = torch.randn(27, 10)
    w1, b1 = torch.randn(30, 64) * 0.2, torch.randn(64) * 0.1
    gain, bias = 1.0 + torch.randn(1, 64) * 0.1, torch.randn(1, 64) * 0.1
    w2, b2 = torch.randn(64, 27) * 0.1, torch.randn(27) * 0.1
    pre = c[xb].view(32, -1) @ w1 + b1
    hidden = (pre - pre.mean(0)) / torch.sqrt(pre.var(0) + 1e-5)  # var over n - 1, as makemore
    loss = F.cross_entropy(torch.tanh(gain * hidden + bias) @ w2 + b2, yb)
    assert close(printed(out, "loss:")[0], loss)
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.split()[:3] == ["name", "exact", "close"])
    rows = [line.split() for line in lines[head + 1:] if not line.startswith("all close")]
    names = {"logits", "h", "W2", "b2", "hpreact", "bngain", "bnbias", "bnraw", "bnvar_inv",
             "bnvar", "bndiff", "bnmean", "hprebn", "embcat", "W1", "b1", "emb", "C"}
    assert {r[0] for r in rows} == names and len(rows) == len(names)
    assert all(r[2] == "True" and float(r[3]) < 1e-6 for r in rows), out
    assert lines[-1] == "all close: True"


@pytest.mark.parametrize("label, body, numbers", [
    ("y:", "y: tensor([0.2463], grad_fn=<PowBackward0>)", [0.2463]),
    ("g:", "g: tensor([[ 0.0000e+00, -4.6931e-03],\n        [ 1.5e-02, 2.]])",
     [0, -4.6931e-3, 0.015, 2]),
])
def test_printed_parses_what_torch_prints(label: str, body: str, numbers: list[float]) -> None:
    assert printed(body, label) == [numbers]


def test_11_training_loop() -> None:
    out = run("11_training_loop.py")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.randn(16, 4), torch.randint(0, 3, (16,))
    for step in range(3):  # the same loop, untraced: the oracle
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        assert f"step {step + 1}: loss {loss.item():.4f}" in out
    grad = model[2].bias.grad
    assert grad is not None
    assert out.count(str(grad)) == 2  # the real .grad and t.grad(...) print the same tensor
    assert "['parameter', 'SGD.step', 'SGD.step', 'SGD.step']" in out and "warnings: []" in out


def test_12_ddp() -> None:
    # one rank (plain python): .grad is the sum of both micro-batches, as without DDP
    out = run("12_ddp.py")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1))
    data = torch.Generator().manual_seed(0)
    for _ in range(2):
        x, y = torch.randn(8, 4, generator=data), torch.randn(8, 1, generator=data)
        F.mse_loss(model(x), y).backward()
    assert close(printed(out, "model.module.2.bias.grad")[0], model[2].bias.grad)


def test_13_watch() -> None:
    out = run("13_watch.py")
    # the table's std of layers[2].out at the last iteration is what torch printed for it
    std = printed(out, "layers[2].out.std():")[0][0]
    row = next(line for line in out.splitlines() if " layers[2].out " in line)
    assert math.isclose(float(row.split()[2]), std, rel_tol=1e-3)
    assert row.split()[0] == "19"
